"""Reading an index folder back (the layout is in build.py), checked at every step.

Loading is where untrusted bytes come in, so it is kept apart from building and
saving: the manifest is read within caps on size and nesting and checked for
format, version, file table and numbers; every data file must be a file of its
own (no symbolic link), of its recorded size, and of its SHA-256 by policy
(``_hash_policy``); arrays are read with ``allow_pickle=False``; shapes, types,
offsets, ids, aliases, texts (``corpus_sha256``) and vectors (of unit length) must
agree before an ``Index`` is handed out, else ``IndexCorruptError`` says how to rebuild.

Big indexes stay on disk when loaded (``load_index(mmap=...)``): the FAISS file,
row and BM25 arrays are memory-mapped, the vectors read a few rows at a time with
``pread`` (rowfile.py), so the rows a query reads do not stay in the process's
memory. For the same reason big files are hashed, and their vectors checked, only
when asked (``verify``); sizes are always checked.
"""

from __future__ import annotations

import json
import mmap as _mmap
import os
import stat
import tokenize
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ragdiplo.durable import (
    GENERATION_NAME,
    Remedy,
    check_seal,
    corrupt,
    data_files,
    lmode,
    not_permitted,
    read_json_capped,
    sha256_file,
)
from ragdiplo.embed.base import Backend, Precision
from ragdiplo.errors import ConfigError, CorpusError, IndexLoadError, IndexMismatchError, IndexNotFoundError
from ragdiplo.index.build import ALIASES, FORMAT, FORMAT_VERSION, MANIFEST, Index, corpus_hashes, corpus_sha256
from ragdiplo.index.compat import check_analyser
from ragdiplo.index.doctable import MappedDocuments, read_documents
from ragdiplo.ingest.chunking import ChunkerConfig
from ragdiplo.ingest.corpus import check_doc_id
from ragdiplo.stores.ann import FLAT, AnnConfig
from ragdiplo.stores.bm25 import BM25
from ragdiplo.stores.faiss_store import FaissStore, StoreConfig, StoreKind, VectorStore
from ragdiplo.stores.rowfile import RowFile, Vectors, bad_rows

# a format-2 index is exact and keeps the default settings; 4 is sealed; before 5 the manifest holds
# the aliases and ends the model id with the backend and graph that made the vectors
READABLE_VERSIONS = (2, 3, 4, 5)
HASH_ALWAYS_BELOW = 256 * 2**20  # bytes: bigger files are hashed (and vectors checked) only with verify=True
MAX_DIM = 1 << 16  # a vector dimension larger than any embedding model's
MAX_ROWS = 1 << 40  # counts of documents, passages or sentences; offsets stay under this too
MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # formats before 5 list every document in the manifest
REQUIRED_FILES = ("documents.jsonl", "passages.npy", "sentences.npy", "passage_vectors.npy", "sentence_vectors.npy")
# model-id endings of formats before 5: runtime, then the packed-row graph's revision
_LEGACY_RUNTIMES = {"+openvino-bf16": (Backend.OPENVINO, Precision.BFLOAT16),
                    "+openvino": (Backend.OPENVINO, Precision.FLOAT32), "+onnx": (Backend.ONNX, Precision.FLOAT32)}
_LEGACY_GRAPH = "-g2"


def _remedy(root: Path) -> Remedy:
    return Remedy(f"rebuild it from its corpus: QA.build(corpus, {str(root)!r}), or sync(documents) inside "
                  f"edit_index({str(root)!r})", f"rebuild with `ragdiplo index CORPUS --index {root}`")


def model_of(manifest: dict[str, Any]) -> tuple[str, Backend | None, Precision]:
    """The model an index was built with, the backend that ran it and its
    precision. Format 5 records them apart; older formats ended the model id
    with the last two (``'m+openvino-bf16-g2'``; none for torch or an embedder of
    the user's own, whose backend is then unknown)."""
    model_id = manifest["model_id"]
    if not isinstance(model_id, str):
        raise TypeError("model_id must be a string")
    if manifest["format_version"] >= 5:
        backend = manifest["backend"]
        return model_id, None if backend is None else Backend(backend), Precision(manifest["precision"])
    bare = model_id.removesuffix(_LEGACY_GRAPH)
    for suffix, (backend, precision) in _LEGACY_RUNTIMES.items():
        if bare.endswith(suffix):
            return bare.removesuffix(suffix), backend, precision
    return model_id, None, Precision.FLOAT32


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of the index at ``path``, checked for format, version and shape."""
    root = Path(path)
    file = root / MANIFEST
    if root.is_file():
        what = f"{root}: is a file, not an index folder; pass the index folder"
        raise IndexLoadError(what, cli_message=f"{what} with --index")
    mode = lmode(file) if root.is_dir() else None
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise corrupt(f"{file}: {_not_own(mode, 'file')}", _remedy(root))
    if mode is None or not stat.S_ISREG(mode):
        odd = f"{file} is a folder, not a manifest: remove it, then " if mode is not None else ""
        raise IndexNotFoundError(f"{root}: no index here; {odd}build one with QA.build(corpus, {str(root)!r})",
                                 cli_message=f"{root}: no index here; {odd}build one with `ragdiplo index CORPUS --index {root}`")
    manifest = read_json_capped(file, MAX_MANIFEST_BYTES, _remedy(root))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexMismatchError(
            f"{file}: not an index written by ragdiplo; pass a folder written by save_index or QA.build",
            cli_message=f"{file}: not a ragdiplo index; point --index at a folder made by `ragdiplo index`",
        )
    version = manifest.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        what = f"{file}: index format {version!r}, but this ragdiplo reads format {FORMAT_VERSION}; " + (
            "upgrade ragdiplo (`pip install -U ragdiplo`) or " if newer else "")
        raise IndexMismatchError(what + _remedy(root).text, cli_message=what + str(_remedy(root).cli))
    if version >= 4:
        check_seal(manifest, file, _remedy(root))
    required = (*REQUIRED_FILES, ALIASES) if version >= 5 else REQUIRED_FILES
    check_file_table(manifest, required, file, _remedy(root))
    _check_numbers(manifest, file, _remedy(root))
    return manifest


def _check_numbers(manifest: dict[str, Any], where: Path, remedy: Remedy) -> None:
    """The dimension and counts are plain integers in range before anything is sized by them."""
    dim, counts = manifest.get("dim"), manifest.get("counts")
    if type(dim) is not int or not 1 <= dim <= MAX_DIM:
        raise corrupt(f"{where}: bad vector dimension (not a whole number from 1 to {MAX_DIM})", remedy)
    names = ("documents", "passages", "sentences")
    if not isinstance(counts, dict) or not all(type(counts.get(k)) is int and 0 <= counts[k] < MAX_ROWS for k in names):
        raise corrupt(f"{where}: bad counts (each a whole number from 0 to {MAX_ROWS - 1})", remedy)


def check_file_table(manifest: dict[str, Any], required: tuple[str, ...], where: Path, remedy: Remedy) -> None:
    """The manifest's data folder and file names must be plain names inside the
    index folder, so a crafted manifest cannot make the loader read elsewhere."""
    data, files = manifest.get("data"), manifest.get("files")
    if not isinstance(data, str) or not GENERATION_NAME.fullmatch(data):
        raise corrupt(f"{where}: bad data folder name {data!r}", remedy)
    if not isinstance(files, dict) or not set(required) <= set(files):
        raise corrupt(f"{where}: the file table is missing entries", remedy)
    for name, record in files.items():
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name:
            raise corrupt(f"{where}: unsafe file name {name!r} in the file table", remedy)
        if not isinstance(record, dict) or not isinstance(record.get("bytes"), int) or "sha256" not in record:
            raise corrupt(f"{where}: bad file record for {name!r}", remedy)


def check_files(data: Path, files: dict[str, dict[str, Any]], verify: bool, remedy: Remedy, *, extra: bool = True
                ) -> None:
    """Every data file is present, a file of its own (no symbolic link on the way:
    an error never tells what a link points at), of its recorded size, and with
    ``verify`` of its recorded SHA-256; with ``extra``, an unlisted file is an error too."""
    for name, record in files.items():
        file = data / name
        for folder in [data, *(data / p for p in reversed(PurePosixPath(name).parents[:-1]))]:
            mode = lmode(folder)
            if mode is not None and not stat.S_ISDIR(mode):
                raise corrupt(f"{folder}: {_not_own(mode, 'folder')}", remedy)
        mode = lmode(file)
        if mode is None:
            raise corrupt(f"{file}: missing from the index", remedy)
        if not stat.S_ISREG(mode):
            raise corrupt(f"{file}: {_not_own(mode, 'file')}", remedy)
        size = os.lstat(file).st_size
        if size != record["bytes"]:
            raise corrupt(f"{file}: truncated or resized ({size} bytes, expected {record['bytes']})", remedy)
        if verify and sha256_file(file, follow_links=False) != record["sha256"]:
            raise corrupt(f"{file}: checksum mismatch (corrupt or modified)", remedy)
    if extra and stat.S_ISDIR(lmode(data) or 0):
        unlisted = sorted(data_files(data) - set(files))
        if unlisted:
            raise corrupt(f"{data / unlisted[0]}: not listed in the manifest", remedy)


def _not_own(mode: int, what: str) -> str:
    return f"is a symbolic link, not a {what} of the index" if stat.S_ISLNK(mode) else f"is not a {what}"


def load_index(
    path: str | os.PathLike[str],
    *,
    verify: bool | None = None,
    store: StoreConfig | None = None,
    mmap: bool | None = None,
    open_store: bool = True,
) -> Index:
    """Read an index folder. Every data file's size is checked; its SHA-256 too
    with ``verify=True``, never with ``False``, and by default (None) for files
    under ``HASH_ALWAYS_BELOW`` (256 MiB) only: hashing the GBs of vectors of a
    million passages would take longer than the rest of loading. ``store`` gives
    the address of the Milvus collection the manifest names: a manifest alone
    may not choose where to connect, unless its Milvus Lite store lies inside the
    index folder. ``open_store=False`` leaves a Milvus store unopened (an update
    that moves the vectors elsewhere reads them from the index folder).

    ``mmap`` leaves a big index on disk instead of reading it, so it need not fit
    in RAM: the row arrays, BM25 and the FAISS file are memory-mapped, and the
    vectors (``RowFile``) read a few rows at a time with ``pread``, which keeps
    the rows queries read out of the process's RSS. By default (None) an
    approximate index is left on disk and an exact one read. Such an index is
    read-only on disk: updates make new files, as always.

    A writer may swap in a new generation and delete this one while it is being
    read; then the new one is read instead (a few times at most), so a reader
    gets the old index or the new one and never an error caused by the swap.
    An index of another BM25 analyser is refused (``compat.check_analyser``).
    """
    index = read_index(path, verify=verify, store=store, mmap=mmap, open_store=open_store)
    check_analyser(index, Path(path))
    return index


def read_index(
    path: str | os.PathLike[str],
    *,
    verify: bool | None = None,
    store: StoreConfig | None = None,
    mmap: bool | None = None,
    open_store: bool = True,
) -> Index:
    """``load_index`` without the analyser check, for a writer that makes BM25 anew."""
    root = Path(path)
    manifest = read_manifest(root)
    for _ in range(4):
        try:
            return _load_generation(root, manifest, verify, store, mmap, open_store)
        except IndexLoadError:
            latest = read_manifest(root)
            if latest["data"] == manifest["data"]:
                raise
            manifest = latest
    return _load_generation(root, manifest, verify, store, mmap, open_store)


def _open_store(
    manifest: dict[str, Any], data: Path, given: StoreConfig | None, index: Index, verify: bool, mmap: bool
) -> VectorStore:
    """The store the manifest names (a Milvus one at the address ``given``, if any)."""
    config = StoreConfig.from_manifest(manifest.get("store")).reconnect(given)
    config.check_chosen(data.parent, given)
    if config.kind is StoreKind.FAISS:
        info = manifest.get("vector_index")
        return FaissStore.load(data / "passages.faiss", index.passage_vectors, info, mmap=mmap)
    from ragdiplo.stores.milvus import MilvusStore

    return MilvusStore.connect(config, int(manifest["dim"]), [index.passage(i) for i in range(len(index))], verify)


def _load_vectors(file: Path, mmap: bool) -> Vectors:
    """Vectors read whole, or left on disk and read by row when used (rowfile.py);
    where ``pread`` is missing (Windows), memory-mapped instead."""
    return RowFile(file) if mmap and hasattr(os, "pread") else _load_array(file, mmap)


def _load_array(file: Path, mmap: bool) -> np.ndarray:
    """A .npy array, read or memory-mapped; rows of a mapped one are read where
    used, so the kernel is told not to read ahead around them."""
    array = np.load(file, allow_pickle=False, mmap_mode="r" if mmap else None)
    mapped = getattr(array, "_mmap", None)
    if mapped is not None and hasattr(_mmap, "MADV_RANDOM"):
        mapped.madvise(_mmap.MADV_RANDOM)
    return array


def _approximate(manifest: dict[str, Any]) -> bool:
    info = manifest.get("vector_index")
    if not (info is None or isinstance(info, dict) and isinstance(info.get("type"), str)):
        raise ValueError(f"bad vector_index entry {info!r}")
    return info is not None and info["type"] != FLAT


def _hash_policy(files: dict[str, dict[str, Any]], verify: bool | None) -> dict[str, dict[str, Any]]:
    """The records whose SHA-256 to check (see ``load_index``)."""
    if verify is None:
        return {n: r for n, r in files.items() if r["bytes"] < HASH_ALWAYS_BELOW}
    return files if verify else {}


def _load_generation(
    root: Path,
    manifest: dict[str, Any],
    verify: bool | None,
    store: StoreConfig | None = None,
    mmap: bool | None = None,
    open_store: bool = True,
) -> Index:
    data = root / manifest["data"]
    hashed = _hash_policy(manifest["files"], verify)
    try:
        check_files(data, manifest["files"], False, _remedy(root))
        check_files(data, hashed, True, _remedy(root), extra=False)
    except OSError as err:  # a file deleted between two checks: a writer swapped generations
        raise _unreadable(root, data, err) from None
    try:
        mapped = _approximate(manifest) if mmap is None else mmap
        model_id, backend, precision = model_of(manifest)
        index = Index(
            documents=(MappedDocuments if mapped else read_documents)(data / "documents.jsonl"),
            passage_rows=_load_array(data / "passages.npy", mapped),
            sentence_rows=_load_array(data / "sentences.npy", mapped),
            passage_vectors=_load_vectors(data / "passage_vectors.npy", mapped),
            sentence_vectors=_load_vectors(data / "sentence_vectors.npy", mapped),
            store=FaissStore.create(int(manifest["dim"])),  # replaced below, once passages can be read
            bm25=BM25.load(data / "bm25", int(manifest["counts"]["passages"]), mmap=mapped),
            model_id=model_id,
            chunker=ChunkerConfig(**manifest["chunker"]),
            alias_of=_aliases(data / ALIASES) if manifest["format_version"] >= 5 else dict(manifest["aliases"]),
            backend=backend,
            precision=precision,
            manifest=manifest,
            ann=AnnConfig.from_dict(manifest.get("ann")),
        )
    except _UNREADABLE as err:
        raise _unreadable(root, data, err) from None
    try:
        if open_store or StoreConfig.from_manifest(manifest.get("store")).kind is StoreKind.FAISS:
            index.store = _open_store(manifest, data, store, index, verify is not False, mapped)
        else:
            index.store.add(np.asarray(index.passage_vectors))  # a stand-in: the vectors are in the folder too
        _check_consistent(index, manifest)
        _check_vectors(index, set(hashed))
    except ConfigError:
        raise  # e.g. pymilvus missing: installing it, not a rebuild, is the remedy
    except _UNREADABLE as err:
        raise _unreadable(root, data, err) from None
    return index


# what reading crafted bytes raises (a .npy header numpy cannot parse raises SyntaxError or TokenError)
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError, CorpusError, SyntaxError,
               tokenize.TokenError)  # fmt: skip


def _unreadable(root: Path, data: Path, err: Exception) -> IndexLoadError:
    if isinstance(err, PermissionError):
        return not_permitted(root, err)
    return corrupt(f"{data}: cannot be read ({type(err).__name__}: {err})", _remedy(root))


def _aliases(file: Path) -> dict[str, str]:
    """``aliases.json``: {alias id: stored id} (its size and checksum were checked)."""
    aliases = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
        raise TypeError(f"{file.name} must map ids to ids")
    return aliases


def _check_consistent(index: Index, manifest: dict[str, Any]) -> None:
    """Shapes, types and offsets agree with each other and the manifest, so a
    crafted index cannot make later code index out of range."""
    n, m, dim = len(index.passage_rows), len(index.sentence_rows), index.dim
    counts = manifest["counts"]
    if (n, m, len(index.documents)) != (counts["passages"], counts["sentences"], counts["documents"]):
        raise ValueError("row counts disagree with the manifest")
    if len(index.alias_of) != counts.get("aliases", len(index.alias_of)):
        raise ValueError("alias count disagrees with the manifest")
    if index.store.count() != n or dim != manifest["dim"]:
        raise ValueError("the vector store disagrees with the manifest")
    lengths = getattr(index.documents, "lengths", None)
    if lengths is None:
        lengths = np.array([len(d.text) for d in index.documents], dtype=np.int64)
    for rows, vectors in ((index.passage_rows, index.passage_vectors), (index.sentence_rows, index.sentence_vectors)):
        if rows.dtype != np.int64 or rows.shape != (len(rows), 3) or vectors.shape != (len(rows), dim):
            raise ValueError("array shapes or types are wrong")
        if vectors.dtype != np.float32:
            raise ValueError("vectors must be float32")
        if len(rows) and (rows[0, 0] < 0 or rows[-1, 0] >= len(index.documents) or np.any(np.diff(rows[:, 0]) < 0)):
            raise ValueError("document rows out of range or order")
        ends = lengths[np.asarray(rows[:, 0])]
        if np.any(rows[:, 1] < 0) or np.any(rows[:, 1] > rows[:, 2]) or np.any(rows[:, 2] > ends):
            raise ValueError("offsets outside their documents")
    stored = set(getattr(index.documents, "ids", None) or (d.id for d in index.documents))
    if len(stored) != len(index.documents):
        raise ValueError("two documents have the same id")
    for alias in index.alias_of:
        check_doc_id(alias, MANIFEST)
    if not all(a not in stored and c in stored for a, c in index.alias_of.items()):
        raise ValueError("aliases must point from a free id to a stored document")
    hashes = corpus_hashes(index)  # the texts, as the manifest recorded them when it was written
    if corpus_sha256(hashes) != manifest["corpus_sha256"] or manifest.get("documents", hashes) != hashes:
        raise ValueError("the documents' texts are not the ones the manifest records (corpus_sha256)")


def _check_vectors(index: Index, hashed: set[str]) -> None:
    """Every stored vector is a unit vector (``bad_rows``; those read when used, if their
    file is hashed: updates check the rest), and an exact FAISS store holds the passage vectors."""
    for name in ("passage_vectors", "sentence_vectors"):
        vectors = getattr(index, name)
        bad = bad_rows(vectors) if isinstance(vectors, np.ndarray) or f"{name}.npy" in hashed else np.empty(0)
        if len(bad):
            raise ValueError(f"{name}.npy: row {bad[0]} is not a unit vector (NaN, infinite or of another length)")
    exact = index.store.exact_rows() if isinstance(index.store, FaissStore) else None
    vectors = index.passage_vectors
    if exact is not None and isinstance(vectors, np.ndarray) and not np.array_equal(exact, vectors):
        raise ValueError("passages.faiss does not hold the passage vectors")
