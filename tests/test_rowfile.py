"""RowFile: rows of a .npy matrix read with pread must equal numpy's own indexing,
bit for bit, and a bad file must fail when opened, not at a query."""

from __future__ import annotations

import gc
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

import ragdiplo.stores.rowfile as rowfile
from ragdiplo.durable import file_record, seal
from ragdiplo.errors import IndexCorruptError
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.load import load_index
from ragdiplo.stores.rowfile import RowFile, chunked_matmul, save_rows


@pytest.fixture
def matrix() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((257, 12), dtype=np.float32)


@pytest.fixture
def rows(matrix, tmp_path) -> RowFile:
    np.save(tmp_path / "m.npy", matrix)
    with RowFile(tmp_path / "m.npy") as f:
        yield f


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_shape_and_type(rows, matrix):
    assert rows.shape == matrix.shape and len(rows) == len(matrix)
    assert rows.dtype == np.float32 and rows.ndim == 2


def test_random_row_sets_equal_numpy_indexing(rows, matrix):
    rng = np.random.default_rng(1)
    n = len(matrix)
    for size in (1, 2, 5, 50, 300):
        for _ in range(10):
            wanted = rng.integers(-n, n, size)  # unsorted, duplicates, negatives
            _same(rows[wanted], matrix[wanted])
            _same(rows[wanted.tolist()], matrix[wanted])
    _same(rows[np.arange(n)], matrix)
    _same(rows[[5, 5, 5]], matrix[[5, 5, 5]])
    _same(rows[np.array([[3, 1], [1, 250]])], matrix[np.array([[3, 1], [1, 250]])])
    _same(rows[np.array([4, 2], dtype=np.uint32)], matrix[[4, 2]])


def test_empty_row_sets(rows, matrix):
    _same(rows[[]], matrix[[]])
    _same(rows[np.zeros(0, dtype=np.int64)], matrix[np.zeros(0, dtype=np.int64)])
    _same(rows[10:10], matrix[10:10])


def test_single_rows_and_slices(rows, matrix):
    for i in (0, 1, 100, 256, -1, -257, np.int64(7)):
        _same(rows[i], matrix[i])
    for s in (slice(None), slice(3, 40), slice(-5, None), slice(None, None, 7), slice(200, 3, -9), slice(250, 999)):
        _same(rows[s], matrix[s])


def test_out_of_range_and_wrong_keys_raise_index_error(rows):
    for key in (257, -258, [0, 257], np.array([-258]), np.array([0.5]), True, np.array([True, False])):
        with pytest.raises(IndexError):
            rows[key]


def test_reads_of_many_rows_go_in_bounded_chunks(rows, matrix, monkeypatch):
    monkeypatch.setattr(rowfile, "CHUNK_ROWS", 10)
    _same(np.asarray(rows), matrix)
    _same(np.asarray(rows, dtype=np.float64), matrix.astype(np.float64))
    _same(rows[1:250], matrix[1:250])
    with pytest.raises(ValueError, match="always copies"):
        rows.__array__(copy=False)


def test_matmul_is_the_same_for_a_file_and_an_array(rows, matrix, monkeypatch):
    q = np.random.default_rng(2).standard_normal(12, dtype=np.float32)
    np.testing.assert_allclose(rows @ q, matrix @ q, rtol=1e-6, atol=1e-6)
    monkeypatch.setattr(rowfile, "CHUNK_ROWS", 16)
    _same(rows @ q, chunked_matmul(matrix, q))
    _same(chunked_matmul(rows, np.stack([q, -q], axis=1)), chunked_matmul(matrix, np.stack([q, -q], axis=1)))


def test_short_reads_are_completed(rows, matrix, monkeypatch):
    """A read may return fewer bytes than asked (at most 2 GiB on Linux, signals)."""
    real = os.pread

    def few_bytes(fd, buffers, offset):
        data = real(fd, min(7, len(buffers[0])), offset)
        buffers[0][: len(data)] = data
        return len(data)

    monkeypatch.setattr(os, "preadv", few_bytes)
    _same(rows[[3, 4, 5, 100]], matrix[[3, 4, 5, 100]])
    monkeypatch.setattr(rowfile, "_PREADV", False)
    _same(rows[[9, 0, 9]], matrix[[9, 0, 9]])


def test_a_file_cut_short_after_opening_raises(matrix, tmp_path):
    np.save(tmp_path / "m.npy", matrix)
    f = RowFile(tmp_path / "m.npy")
    os.truncate(tmp_path / "m.npy", os.path.getsize(tmp_path / "m.npy") - 100)
    _same(f[0], matrix[0])
    with pytest.raises(OSError, match="changed after opening"):
        f[[0, 256]]
    f.close()


def test_windows_read_nothing_until_asked(rows, matrix):
    window = rows.window(10, 60)
    assert window.shape == (50, 12)
    _same(np.asarray(window), matrix[10:60])
    _same(window[[49, 0, 49]], matrix[10:60][[49, 0, 49]])
    _same(np.asarray(window.window(5, 8)), matrix[15:18])
    assert len(rows.window(300, 400)) == 0
    with pytest.raises(IndexError):
        window[50]


def test_save_rows_writes_what_np_save_writes(rows, matrix, tmp_path, monkeypatch):
    monkeypatch.setattr(rowfile, "CHUNK_ROWS", 100)
    buf = io.BytesIO()
    np.save(buf, matrix, allow_pickle=False)
    save_rows(tmp_path / "copy.npy", rows)
    assert (tmp_path / "copy.npy").read_bytes() == buf.getvalue()
    save_rows(tmp_path / "plain.npy", matrix)
    assert (tmp_path / "plain.npy").read_bytes() == buf.getvalue()


def test_an_open_file_survives_deletion_and_closes(matrix, tmp_path):
    """A writer may delete a generation that a loaded index still reads, as with a mapping."""
    path = tmp_path / "m.npy"
    np.save(path, matrix)
    f = RowFile(path)
    fd = f._fd
    path.unlink()
    _same(f[[3, 200]], matrix[[3, 200]])
    f.close()
    with pytest.raises(ValueError, match="closed"):
        f[0]
    with pytest.raises(OSError):
        os.fstat(fd)


def test_the_file_is_closed_when_collected(matrix, tmp_path):
    np.save(tmp_path / "m.npy", matrix)
    f = RowFile(tmp_path / "m.npy")
    window, fd = f.window(0, 5), f._fd
    del f
    gc.collect()
    _same(np.asarray(window), matrix[:5])  # a window keeps its file open
    del window
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


@pytest.mark.parametrize(
    "data, message",
    [
        (_npy(np.zeros((4, 3), np.float32))[:-5], "truncated or corrupt"),
        (_npy(np.zeros((4, 3), np.float32)) + b"\0" * 12, "truncated or corrupt"),
        (_npy(np.zeros((4, 3), np.float64)), "float32"),
        (_npy(np.zeros((4, 3), ">f4")), "float32"),
        (_npy(np.asfortranarray(np.zeros((4, 3), np.float32))), "fortran True"),
        (_npy(np.zeros(12, np.float32)), "shape"),
        (_npy(np.zeros((2, 2, 3), np.float32)), "shape"),
        (b"not an npy file at all", "magic"),
        (b"", "EOF"),
    ],
)
def test_a_bad_file_fails_when_opened(tmp_path, data, message):
    (tmp_path / "bad.npy").write_bytes(data)
    with pytest.raises(ValueError, match=message):
        RowFile(tmp_path / "bad.npy")


def test_a_short_vector_file_is_corrupt_at_load(tmp_path):
    """Even re-signed in the manifest (so the size check passes), a file holding
    fewer rows than its header promises fails the load with the specific error."""
    from conftest import TINY_DOCS, FakeEmbedder

    from ragdiplo.types import Document

    docs = [Document(name, text) for name, text in TINY_DOCS.items()]
    root = save_index(build_index(docs, FakeEmbedder()), tmp_path / "idx")
    manifest = json.loads((root / MANIFEST).read_text())
    path = Path(root / manifest["data"] / "sentence_vectors.npy")
    path.write_bytes(path.read_bytes()[:-4])
    manifest["files"]["sentence_vectors.npy"] = file_record(path)
    (root / MANIFEST).write_text(json.dumps(seal(manifest)))
    with pytest.raises(IndexCorruptError, match="header promises"):
        load_index(root, mmap=True)
