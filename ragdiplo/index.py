"""The index: documents, passages, sentences, their vectors and BM25, on disk.

Layout of an index folder::

    manifest.json            format version, model, chunker, hashes, data folder
    data-<hash>/             one generation of data, never modified once written
        documents.jsonl      id, title, text
        passages.npy         int64 (n, 3): document row, start, end
        sentences.npy        int64 (m, 3): document row, start, end
        passages.faiss       FAISS inner-product index, row i = passage i
        sentence_vectors.npy float32 (m, dim)
        bm25/                bm25s arrays and JSON

A save writes a new generation folder, fsyncs it, then atomically replaces
``manifest.json``; a reader therefore sees the old index or the new one, never a
mix. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .chunking import ChunkerConfig, segment_document
from .embedding import Embedder
from .errors import ConfigError, IndexLoadError, IndexMismatchError, IndexNotFoundError
from .lexical import BM25
from .store import FaissStore
from .types import Document, Passage

FORMAT = "ragdiplo-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


@dataclass
class Index:
    """Everything retrieval and answering read; built once, then read-only."""

    documents: list[Document]
    passage_rows: np.ndarray  # int64 (n, 3): doc row, start, end
    sentence_rows: np.ndarray  # int64 (m, 3): doc row, start, end
    store: FaissStore
    sentence_vectors: np.ndarray
    bm25: BM25
    model_id: str
    chunker: ChunkerConfig
    manifest: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._doc_row = {d.id: i for i, d in enumerate(self.documents)}
        self._sent_keys = [(int(d), int(s)) for d, s, _ in self.sentence_rows]

    def __len__(self) -> int:
        return len(self.passage_rows)

    @property
    def dim(self) -> int:
        return self.store.dim

    def document(self, doc_id: str) -> Document:
        return self.documents[self._doc_row[doc_id]]

    def passage(self, row: int) -> Passage:
        d, s, e = (int(x) for x in self.passage_rows[row])
        doc = self.documents[d]
        return Passage(doc.id, s, e, doc.text[s:e])

    def passage_texts(self) -> list[str]:
        return [self.passage(i).text for i in range(len(self))]

    def sentences_in(self, row: int) -> range:
        """Rows of the sentences lying inside passage ``row``."""
        d, s, e = (int(x) for x in self.passage_rows[row])
        lo = bisect_left(self._sent_keys, (d, s))
        hi = bisect_left(self._sent_keys, (d, e))
        return range(lo, hi)

    def sentence(self, row: int) -> tuple[Document, int, int]:
        d, s, e = (int(x) for x in self.sentence_rows[row])
        return self.documents[d], s, e


def default_chunker(
    embedder: Embedder, max_tokens: int | None = None, overlap_tokens: int | None = None
) -> ChunkerConfig:
    """The default passage size, shrunk to fit models that read fewer tokens."""
    default = ChunkerConfig()
    size = min(default.max_tokens, embedder.max_tokens) if max_tokens is None else max_tokens
    overlap = min(default.overlap_tokens, size // 4) if overlap_tokens is None else overlap_tokens
    return ChunkerConfig(size, overlap)


def build_index(
    documents: list[Document],
    embedder: Embedder,
    chunker: ChunkerConfig | None = None,
    *,
    show_progress: bool = False,
) -> Index:
    """corpus → chunk → embed → index, all in memory; ``save_index`` persists it."""
    chunker = chunker or default_chunker(embedder)
    if chunker.max_tokens > embedder.max_tokens:
        raise ConfigError(f"max_tokens {chunker.max_tokens} is over the model's limit of {embedder.max_tokens}")
    documents = sorted(documents, key=lambda d: d.id)
    if len({d.id for d in documents}) != len(documents):
        raise ValueError("document ids must be unique")
    passage_rows: list[tuple[int, int, int]] = []
    sentence_rows: list[tuple[int, int, int]] = []
    for i, doc in enumerate(documents):
        sentences, passages = segment_document(doc, embedder, chunker)
        sentence_rows.extend((i, s, e) for s, e in sentences)
        passage_rows.extend((i, p.start, p.end) for p in passages)
    texts = [documents[d].text[s:e] for d, s, e in passage_rows]
    sentence_texts = [documents[d].text[s:e] for d, s, e in sentence_rows]
    vectors = embedder.embed(texts, show_progress=show_progress)
    sentence_vectors = embedder.embed(sentence_texts, show_progress=show_progress)
    return Index(
        documents=documents,
        passage_rows=np.asarray(passage_rows, dtype=np.int64).reshape(-1, 3),
        sentence_rows=np.asarray(sentence_rows, dtype=np.int64).reshape(-1, 3),
        store=FaissStore.build(vectors),
        sentence_vectors=sentence_vectors,
        bm25=BM25.build(texts),
        model_id=embedder.model_id,
        chunker=chunker,
    )


def corpus_hashes(documents: list[Document]) -> dict[str, str]:
    return {d.id: d.sha256 for d in sorted(documents, key=lambda d: d.id)}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")) + [folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_data(index: Index, folder: Path) -> dict[str, str]:
    with open(folder / "documents.jsonl", "w", encoding="utf-8") as f:
        for d in index.documents:
            f.write(json.dumps({"id": d.id, "title": d.title, "text": d.text}, ensure_ascii=False) + "\n")
    np.save(folder / "passages.npy", index.passage_rows, allow_pickle=False)
    np.save(folder / "sentences.npy", index.sentence_rows, allow_pickle=False)
    np.save(folder / "sentence_vectors.npy", index.sentence_vectors, allow_pickle=False)
    index.store.save(folder / "passages.faiss")
    index.bm25.save(folder / "bm25")
    return {p.relative_to(folder).as_posix(): _sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def save_index(index: Index, path: str | os.PathLike[str]) -> Path:
    """Write ``index`` to the folder ``path`` crash-safely (see module docstring)."""
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise IndexLoadError(f"{root}: is a file, not an index folder; pass a folder path with --index")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        files = _write_data(index, tmp)
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
        data_dir = f"data-{digest}"
        _fsync_tree(tmp)
        if (root / data_dir).exists():
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, root / data_dir)
        manifest = _manifest(index, data_dir, files)
        _atomic_write_json(root / MANIFEST, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    index.manifest = manifest
    for old in root.glob("data-*"):
        if old.name != data_dir:
            shutil.rmtree(old, ignore_errors=True)
    return root


def _manifest(index: Index, data_dir: str, files: dict[str, str]) -> dict[str, Any]:
    hashes = corpus_hashes(index.documents)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "model_id": index.model_id,
        "dim": index.dim,
        "metric": "inner_product",
        "chunker": index.chunker.to_dict(),
        "counts": {"documents": len(index.documents), "passages": len(index), "sentences": len(index.sentence_rows)},
        "corpus_sha256": hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest(),
        "documents": hashes,
        "data": data_dir,
        "files": files,
    }


def _atomic_write_json(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    root = Path(path)
    file = root / MANIFEST
    if not file.is_file():
        raise IndexNotFoundError(f"{root}: no index here; build one with `ragdiplo index CORPUS --index {root}`")
    if file.stat().st_size > MAX_MANIFEST_BYTES:
        raise IndexLoadError(f"{file}: manifest is implausibly large; rebuild the index")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IndexLoadError(f"{file}: corrupt manifest ({err}); rebuild with `ragdiplo index CORPUS --index {root}`")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexMismatchError(f"{file}: not a ragdiplo index; point --index at a folder made by `ragdiplo index`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{root}: index format {manifest.get('format_version')}, this ragdiplo reads format {FORMAT_VERSION}; "
            f"rebuild with `ragdiplo index CORPUS --index {root}`"
        )
    return manifest


def check_compatible(index: Index, embedder: Embedder, root: Path) -> None:
    """Refuse to query an index with a model other than the one that built it."""
    if index.model_id != embedder.model_id or index.dim != embedder.dim:
        raise IndexMismatchError(
            f"{root}: built with model {index.model_id!r} (dim {index.dim}), "
            f"but the model in use is {embedder.model_id!r} (dim {embedder.dim}); "
            f"rebuild with `ragdiplo index CORPUS --index {root}` or use the same model"
        )


def load_index(path: str | os.PathLike[str], *, verify: bool = True) -> Index:
    """Read an index folder; with ``verify`` every data file's checksum is checked."""
    root = Path(path)
    manifest = read_manifest(root)
    data = root / str(manifest.get("data", ""))
    remedy = f"rebuild with `ragdiplo index CORPUS --index {root}`"
    try:
        for name, digest in manifest["files"].items():
            file = data / name
            if not file.is_file():
                raise IndexLoadError(f"{file}: missing from the index; {remedy}")
            if verify and _sha256_file(file) != digest:
                raise IndexLoadError(f"{file}: checksum mismatch (corrupt or modified); {remedy}")
        documents = []
        with open(data / "documents.jsonl", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                documents.append(Document(id=row["id"], text=row["text"], title=row.get("title")))
        counts = manifest["counts"]
        index = Index(
            documents=documents,
            passage_rows=np.load(data / "passages.npy", allow_pickle=False),
            sentence_rows=np.load(data / "sentences.npy", allow_pickle=False),
            store=FaissStore.load(data / "passages.faiss"),
            sentence_vectors=np.load(data / "sentence_vectors.npy", allow_pickle=False),
            bm25=BM25.load(data / "bm25", counts["passages"]),
            model_id=manifest["model_id"],
            chunker=ChunkerConfig(**manifest["chunker"]),
            manifest=manifest,
        )
    except IndexLoadError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise IndexLoadError(f"{data}: cannot be read ({err}); {remedy}") from None
    if len(index) != counts["passages"] or len(index.store) != counts["passages"]:
        raise IndexLoadError(f"{data}: passage counts disagree with the manifest; {remedy}")
    return index
