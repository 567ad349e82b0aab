"""Rows of a float32 .npy matrix, read from disk when asked for and never mapped.

A big index keeps its exact vectors on disk (at a million passages, 1.4 GB of
passage vectors and 4.4 GB of sentence vectors), and a query needs a few hundred
rows of them: the candidates it re-ranks exactly and the sentences of its best
passages. Memory-mapped, every page a query touched joined the process's
resident set, which then grew with the number of distinct queries until the
files were resident whole (README, section "Scale"). ``RowFile`` reads the rows
with ``os.preadv`` into small new arrays instead: the kernel's page cache still
keeps recently read rows, shared and dropped under memory pressure, but they are
not part of the process. Compressed codes stay in RAM and full-precision vectors
are read per query, the layout of disk-resident ANN indexes such as DiskANN.

A ``RowFile`` behaves like a read-only 2-D array for what the library does with
its vectors: ``x[i]``, ``x[a:b]`` (one read), ``x[rows]`` for an integer array
(sorted, duplicates read once, neighbours read together, returned in the order
asked), ``len``, ``shape``, ``dtype``, ``ndim``, ``x @ q`` and ``np.asarray(x)``
(both read in bounded chunks). Every read returns a new array, never a view.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np

CHUNK_ROWS = 1 << 14  # rows a whole-matrix operation reads at once (24 MB at 384 float32)
MAX_HEADER = 1 << 16  # bytes; numpy itself refuses longer .npy headers by default
_PREADV = hasattr(os, "preadv")  # Linux, BSD, macOS 11+; elsewhere pread and a copy


def _read_header(fd: int, name: str) -> tuple[int, tuple[int, int]]:
    """Byte offset of row 0 and the shape, after checking the header and the
    file size, so that a truncated or foreign file fails here and not at a query."""
    with os.fdopen(fd, "rb", closefd=False) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_HEADER)
        else:
            raise ValueError(f"{name}: .npy format version {version} is not supported")
        offset = f.tell()
    if dtype != np.float32 or fortran or len(shape) != 2:
        raise ValueError(f"{name}: not a C-ordered float32 matrix (dtype {dtype}, shape {shape}, fortran {fortran})")
    expected = offset + shape[0] * shape[1] * 4
    size = os.fstat(fd).st_size
    if size != expected:
        raise ValueError(f"{name}: {size} bytes, but its header promises {expected}: truncated or corrupt")
    return offset, (int(shape[0]), int(shape[1]))


def _pread_into(fd: int, buffer: memoryview, offset: int, name: str) -> None:
    """Fill ``buffer`` from ``offset``; a read may return less than asked (at most
    2 GiB on Linux, or interrupted), so it is repeated until the buffer is full."""
    done = 0
    while done < len(buffer):
        if _PREADV:  # straight into the array
            got = os.preadv(fd, [buffer[done:]], offset + done)
        else:
            data = os.pread(fd, len(buffer) - done, offset + done)
            got = len(data)
            buffer[done : done + got] = data
        if got == 0:
            raise OSError(f"{name}: ends at byte {offset + done}, before the rows asked for; it changed after opening")
        done += got


class RowFile:
    """A read-only float32 matrix in a .npy file (see the module docstring).

    The file is opened once and closed by ``close()`` or when the object is
    collected. An open descriptor keeps the file readable after a writer has
    replaced its generation and deleted it (as a mapping did), so a loaded
    index stays usable until it is dropped.
    """

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))  # a file of the index, not a link
        try:
            self._offset, self.shape = _read_header(fd, self.path.name)
            if hasattr(os, "posix_fadvise"):  # rows are read at random: no read-ahead around them
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._closer = weakref.finalize(self, os.close, fd)
        self._base: RowFile | None = None  # for a window: the RowFile owning the descriptor, kept alive

    def close(self) -> None:
        """Close the file now; windows onto it stop working too."""
        self._owner._closer()

    @property
    def _owner(self) -> RowFile:
        return self if self._base is None else self._base

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"RowFile({str(self.path)!r}, shape={self.shape})"

    @property
    def _row_bytes(self) -> int:
        return self.shape[1] * 4

    def window(self, start: int, stop: int) -> RowFile:
        """Rows ``start:stop`` as a RowFile of their own, nothing read yet: an
        update reuses unchanged documents' vectors through these and reads each
        once, into the new index."""
        start, stop, _ = slice(start, stop).indices(len(self))
        view = object.__new__(RowFile)
        view.path, view._fd, view._base = self.path, self._fd, self._owner
        view._offset = self._offset + start * self._row_bytes
        view.shape = (max(0, stop - start), self.shape[1])
        return view

    def __getitem__(self, key: Any) -> np.ndarray:
        n = len(self)
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            if not -n <= key < n:
                raise IndexError(f"row {key} is out of range for {n} rows")
            return self._read_run(int(key) % n, 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                return self._read_run(start, max(0, stop - start))
            return self._take(np.arange(start, stop, step, dtype=np.int64))
        rows = np.asarray(key)
        if rows.size and rows.dtype.kind not in "iu":
            raise IndexError(f"rows must be given as integers, a slice or an integer array, not {rows.dtype}")
        rows = rows.astype(np.int64, copy=False)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"rows out of range for {n} rows")
        rows = np.where(rows < 0, rows + n, rows)
        return self._take(rows.reshape(-1)).reshape(*rows.shape, self.shape[1])

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """Rows in range, in the order given: each distinct row read once, runs of
        neighbouring rows in one read, in ascending order."""
        if not len(rows):
            return np.empty((0, self.shape[1]), dtype=np.float32)
        if bool(np.all(rows[1:] > rows[:-1])):
            wanted, order = rows, None
        else:
            wanted, order = np.unique(rows, return_inverse=True)
        out = np.empty((len(wanted), self.shape[1]), dtype=np.float32)
        cuts = np.flatnonzero(np.diff(wanted) != 1) + 1
        firsts = np.concatenate(([0], cuts))
        self._fill(out, firsts, np.concatenate((cuts, [len(wanted)])), wanted[firsts])
        return out if order is None else out[order.reshape(-1)]

    def _read_run(self, start: int, count: int) -> np.ndarray:
        out = np.empty((count, self.shape[1]), dtype=np.float32)
        firsts = np.arange(0, count, CHUNK_ROWS)  # bounded reads, into one array
        self._fill(out, firsts, np.minimum(firsts + CHUNK_ROWS, count), start + firsts)
        return out

    def _fill(self, out: np.ndarray, firsts: np.ndarray, stops: np.ndarray, rows: np.ndarray) -> None:
        """Rows ``rows[i]`` onwards of the file into ``out[firsts[i]:stops[i]]``.
        A query reads a few hundred single rows, so the loop is kept lean: about
        1 µs a read when the page cache holds the row."""
        if not self._owner._closer.alive:
            raise ValueError(f"{self.path.name}: read from a closed RowFile")
        if not out.size:
            return
        fd, size, view = self._fd, self._row_bytes, memoryview(out.data).cast("B")
        for a, b, row in zip(firsts.tolist(), stops.tolist(), rows.tolist()):
            part, offset = view[a * size : b * size], self._offset + row * size
            if not (_PREADV and os.preadv(fd, [part], offset) == len(part)):
                _pread_into(fd, part, offset, self.path.name)  # a short read, or no preadv

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Every row, in one new array (for updates and saves that copy them all)."""
        if copy is False:
            raise ValueError("a RowFile lives on disk: making an array of it always copies")
        out = self._read_run(0, len(self))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __matmul__(self, other: Any) -> np.ndarray:
        return chunked_matmul(self, other)


Vectors = np.ndarray | RowFile  # float32 (n, dim), in RAM or read from disk


def chunked_matmul(vectors: Vectors, other: Any) -> np.ndarray:
    """``vectors @ other``, ``CHUNK_ROWS`` rows at a time: a RowFile is never read
    whole, and an in-RAM array gives the same result bit for bit (BLAS sums can
    depend on how many rows one call is given and how it splits them)."""
    other = np.asarray(other)
    n = len(vectors)
    out = np.empty((n, *other.shape[1:]), dtype=np.result_type(np.float32, other.dtype))
    for a in range(0, n, CHUNK_ROWS):
        out[a : a + CHUNK_ROWS] = vectors[a : a + CHUNK_ROWS] @ other
    return out


UNIT_TOLERANCE = 1e-3  # how far a stored vector's length may be from 1 (float32 and bfloat16 round far less)


def bad_rows(vectors: Vectors) -> np.ndarray:
    """Rows that are not unit vectors: NaN or infinite components, or a length more
    than ``UNIT_TOLERANCE`` from 1. A zero row passes: normalising a text with
    nothing to embed gives it. Read ``CHUNK_ROWS`` at a time."""
    bad = []
    for a in range(0, len(vectors), CHUNK_ROWS):
        block = np.asarray(vectors[a : a + CHUNK_ROWS], dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            lengths = np.sqrt(np.einsum("ij,ij->i", block, block))
            unit = np.isfinite(block).all(axis=1) & ((np.abs(lengths - 1) <= UNIT_TOLERANCE) | (lengths == 0))
        bad.append(a + np.flatnonzero(~unit))
    return np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)


def save_rows(path: str | os.PathLike[str], vectors: Vectors) -> None:
    """``np.save(path, vectors)``, byte for byte, without reading a RowFile whole."""
    if not isinstance(vectors, RowFile):
        np.save(path, vectors, allow_pickle=False)
        return
    header = {"descr": np.lib.format.dtype_to_descr(vectors.dtype), "fortran_order": False, "shape": vectors.shape}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.writelines(memoryview(vectors[a : a + CHUNK_ROWS].data).cast("B") for a in range(0, len(vectors), CHUNK_ROWS))
