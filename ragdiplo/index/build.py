"""The index: documents, passages, sentences, their vectors and BM25, on disk.

Layout of an index folder::

    manifest.json            format version, model (id, backend, precision), chunker,
                             counts, corpus hash, data folder, size and SHA-256 of
                             each data file: its size does not grow with the corpus
    write.lock               held by the one process allowed to write (see durable.py)
    .tmp-ragdiplo-<token>    a writer's temporary file or folder, until it is renamed
    data-<hash>/             one generation of data, never modified once written
        .ragdiplo-generation its mark: a writer removes only folders that hold it, never
                             other files a user keeps in the folder (durable.own_entry)
        documents.jsonl      id, title, text, and date, source, url, tags when set
        aliases.json         {id: stored id} for ids whose text and metadata another
                             id already holds (``canonical``); ``{}`` when none
        passages.npy         int64 (n, 3): document row, start, end
        sentences.npy        int64 (m, 3): document row, start, end
        passage_vectors.npy  float32 (n, dim)
        sentence_vectors.npy float32 (m, dim)
        passages.faiss       the vector store, row i = passage i (absent when the
                             manifest's ``store`` names a Milvus collection instead):
                             exact IndexFlatIP, or IVF-PQ for big corpora (ann.py);
                             the manifest's ``vector_index`` names the type, its
                             parameters and measured recall, ``ann`` the settings
        bm25/                bm25s arrays and JSON

Everything derived from a document depends only on its text, so it is kept per
text (``DocArtefacts``) and an index is always assembled from those in one
canonical order (documents by id). An incremental update (update.py) reuses the
artefacts of unchanged texts and is therefore identical to a full rebuild.

A save writes a new generation folder, fsyncs it, then atomically replaces
``manifest.json``; a reader therefore sees the old index or the new one, never a
mix. Nothing is pickled. Reading a folder back, with every check that
entails, is loading.py's job; this module only makes and writes indexes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ragdiplo._version import __version__
from ragdiplo.durable import DEFAULT_LOCK_TIMEOUT, claim, recorded_generation, seal, write_generation, write_lock
from ragdiplo.embed.base import Backend, Embedder, EmbedderLike, Precision, as_embedder
from ragdiplo.errors import ConfigError, IndexWriteError
from ragdiplo.index.artefacts import DocArtefacts, canonical, segment_and_embed
from ragdiplo.index.facets import Facets
from ragdiplo.ingest.chunking import ChunkerConfig
from ragdiplo.stores.ann import AnnConfig
from ragdiplo.stores.bm25 import BM25, analyser
from ragdiplo.stores.faiss_store import FaissStore, StoreConfig, StoreKind, VectorStore
from ragdiplo.stores.rowfile import RowFile, Vectors, save_rows
from ragdiplo.types import Document, Passage

FORMAT = "ragdiplo-index"
# 3: ``vector_index`` and ``ann`` (approximate search); 4: the manifest's own checksum;
# 5: ``backend`` and ``precision`` beside a bare model id, aliases in aliases.json
FORMAT_VERSION = 5
MANIFEST = "manifest.json"
ALIASES = "aliases.json"


@dataclass
class Index:
    """Everything retrieval and answering read; treat it as read-only (update.py
    makes new indexes rather than changing one)."""

    documents: Sequence[Document]  # one per distinct text, in id order (MappedDocuments when memory-mapped)
    passage_rows: np.ndarray  # int64 (n, 3): doc row, start, end
    sentence_rows: np.ndarray  # int64 (m, 3): doc row, start, end
    passage_vectors: Vectors  # float32 (n, dim); kept so an update never re-embeds them
    sentence_vectors: Vectors  # float32 (m, dim); both a RowFile when loaded from disk with mmap
    store: VectorStore
    bm25: BM25
    model_id: str  # the model only; the runtime that made the vectors is ``backend``
    chunker: ChunkerConfig
    alias_of: dict[str, str] = field(default_factory=dict)  # id -> id of the stored document with its text
    backend: Backend | None = None  # what computed the vectors (None: an embedder of the user's own)
    precision: Precision = Precision.FLOAT32
    manifest: dict[str, Any] = field(default_factory=dict)
    ann: AnnConfig = field(default_factory=AnnConfig)  # when and how the FAISS store turns approximate

    def __post_init__(self) -> None:
        ids = getattr(self.documents, "ids", None) or [d.id for d in self.documents]
        self._doc_row = {doc_id: i for i, doc_id in enumerate(ids)}
        self._doc_row.update({a: self._doc_row[c] for a, c in self.alias_of.items()})
        self._sent_keys = _span_keys(self.sentence_rows)  # an array: a list of tuples costs ~100 B a sentence
        # ids sharing a stored text, by that text's row: aliases() is asked per citation
        self._ids_of_row: dict[int, list[str]] = {}
        for alias, stored in self.alias_of.items():
            self._ids_of_row.setdefault(self._doc_row[stored], []).append(alias)

    def __len__(self) -> int:
        return len(self.passage_rows)

    @property
    def dim(self) -> int:
        return self.store.dim

    @property
    def ids(self) -> list[str]:
        """Every document id, stored or alias, sorted."""
        return sorted(self._doc_row)

    def row_of(self, doc_id: str) -> int:
        """The row of the stored document holding ``doc_id``'s text."""
        return self._doc_row[doc_id]

    def document(self, doc_id: str) -> Document:
        """The document holding ``doc_id``'s text (for an alias, the stored one)."""
        return self.documents[self._doc_row[doc_id]]

    def aliases(self, doc_id: str) -> tuple[str, ...]:
        """The other ids whose text is identical to ``doc_id``'s, sorted; such
        texts are stored and cited once, and these ids name the same words."""
        row = self._doc_row[doc_id]
        sharing = self._ids_of_row.get(row)
        if not sharing:  # the common case: a text stored under one id only
            return ()
        stored = self.documents[row].id
        return tuple(sorted(i for i in (stored, *sharing) if i != doc_id))

    @cached_property
    def facets(self) -> Facets:
        """Date, source and tags of every stored document, as filters read them."""
        return Facets.of(self.documents)

    def passage(self, row: int) -> Passage:
        d, s, e = (int(x) for x in self.passage_rows[row])
        doc = self.documents[d]
        return Passage(doc.id, s, e, doc.text[s:e], doc.title, doc.date, doc.source)

    def passage_texts(self) -> list[str]:
        return [self.passage(i).text for i in range(len(self))]

    def sentences_in(self, row: int) -> range:
        """Rows of the sentences lying inside passage ``row``."""
        d, s, e = (int(x) for x in self.passage_rows[row])
        lo, hi = np.searchsorted(self._sent_keys, [(d << _SHIFT) + s, (d << _SHIFT) + e])
        return range(int(lo), int(hi))

    def sentence(self, row: int) -> tuple[Document, int, int]:
        d, s, e = (int(x) for x in self.sentence_rows[row])
        return self.documents[d], s, e

    def sentence_at(self, doc_row: int, pos: int) -> int:
        """Row of the last sentence of document ``doc_row`` starting at or before
        character ``pos`` (the one holding it, unless ``pos`` falls between two)."""
        return int(np.searchsorted(self._sent_keys, (doc_row << _SHIFT) + pos, side="right")) - 1

    def artefacts(self) -> dict[str, DocArtefacts]:
        """The per-text artefacts this index was assembled from, by text SHA-256.
        Their vectors are views (windows of a RowFile): nothing is read until an
        update copies them into the new index."""
        rows = np.arange(len(self.documents) + 1)
        p = np.searchsorted(self.passage_rows[:, 0], rows)
        s = np.searchsorted(self.sentence_rows[:, 0], rows)
        return {
            d.sha256: DocArtefacts(
                self.sentence_rows[s[i] : s[i + 1], 1:],
                self.passage_rows[p[i] : p[i + 1], 1:],
                _span(self.sentence_vectors, int(s[i]), int(s[i + 1])),
                _span(self.passage_vectors, int(p[i]), int(p[i + 1])),
            )
            for i, d in enumerate(self.documents)
        }


def _span(vectors: Vectors, start: int, stop: int) -> Vectors:
    return vectors.window(start, stop) if isinstance(vectors, RowFile) else vectors[start:stop]


_SHIFT = 40  # document row above, character offset below: offsets stay under 2**40


def _span_keys(rows: np.ndarray) -> np.ndarray:
    """(document row, start) as one sortable int64 per row."""
    return (np.asarray(rows[:, 0], dtype=np.int64) << _SHIFT) + np.asarray(rows[:, 1], dtype=np.int64)


def default_chunker(
    embedder: Embedder | EmbedderLike, max_tokens: int | None = None, overlap_tokens: int | None = None
) -> ChunkerConfig:
    """The default passage size, shrunk to fit models that read fewer tokens."""
    default = ChunkerConfig()
    size = min(default.max_tokens, embedder.max_tokens) if max_tokens is None else max_tokens
    overlap = min(default.overlap_tokens, size // 4) if overlap_tokens is None else overlap_tokens
    return ChunkerConfig(size, overlap)


def _rows(parts: Sequence[Vectors], width: int, dtype: type) -> np.ndarray:
    """The parts one under the other, copied in one by one: a part read from disk
    (a RowFile window) is read only here, so an update of a big index holds its
    vectors in RAM once, not once in parts and again joined."""
    out: np.ndarray = np.empty((sum(len(p) for p in parts), width), dtype=dtype)
    at = 0
    for part in parts:
        out[at : at + len(part)] = part
        at += len(part)
    return out


def assemble(
    documents: list[Document],
    alias_of: dict[str, str],
    artefacts: dict[str, DocArtefacts],
    model: Embedder | Index,
    chunker: ChunkerConfig,
    ann: AnnConfig | None = None,
) -> Index:
    """The index of ``documents`` (as ``canonical`` returns them) from their artefacts,
    recorded as made by ``model`` (its id, dimension, backend and precision); the
    vector store is exact or approximate by size (``ann``, default ``AnnConfig()``)."""
    dim = model.dim
    if not documents:
        raise ConfigError("an index needs at least one document; delete the index folder instead")
    p_rows, s_rows, p_vecs, s_vecs = [], [], [], []
    for i, d in enumerate(documents):
        a = artefacts[d.sha256]
        p_rows.append(np.column_stack([np.full(len(a.passages), i, dtype=np.int64), a.passages]))
        s_rows.append(np.column_stack([np.full(len(a.sentences), i, dtype=np.int64), a.sentences]))
        p_vecs.append(a.passage_vectors)
        s_vecs.append(a.sentence_vectors)
    passage_rows = _rows(p_rows, 3, np.int64)
    passage_vectors = _rows(p_vecs, dim, np.float32)
    ann = ann or AnnConfig()
    store = FaissStore.build(passage_vectors.reshape(-1, dim), ann)
    texts = [documents[d].text[s:e] for d, s, e in passage_rows.tolist()]
    return Index(
        documents=list(documents),
        passage_rows=passage_rows,
        sentence_rows=_rows(s_rows, 3, np.int64),
        store=store,
        sentence_vectors=_rows(s_vecs, dim, np.float32),
        bm25=BM25.build(texts),
        model_id=model.model_id,
        chunker=chunker,
        passage_vectors=passage_vectors,
        alias_of=dict(alias_of),
        backend=model.backend,
        precision=model.precision,
        ann=ann,
    )


def check_chunker(embedder: Embedder | EmbedderLike, chunker: ChunkerConfig | None) -> ChunkerConfig:
    chunker = chunker or default_chunker(embedder)
    if chunker.max_tokens > embedder.max_tokens:
        raise ConfigError(f"max_tokens {chunker.max_tokens} is over the model's limit of {embedder.max_tokens}")
    return chunker


def build_index(
    documents: list[Document],
    embedder: Embedder | EmbedderLike,
    chunker: ChunkerConfig | None = None,
    *,
    show_progress: bool = False,
    ann: AnnConfig | None = None,
) -> Index:
    """corpus → chunk → embed → index, all in memory; ``save_index`` persists it.
    ``ann`` says from what size search turns approximate (default ``AnnConfig()``)."""
    model = as_embedder(embedder)
    chunker = check_chunker(model, chunker)
    stored, alias_of = canonical(documents)
    artefacts = segment_and_embed(stored, model, chunker, show_progress=show_progress)
    return assemble(stored, alias_of, artefacts, model, chunker, ann)


def corpus_hashes(index: Index) -> dict[str, str]:
    """SHA-256 of the text behind every id, aliases included (each stored text hashed once)."""
    digests = getattr(index.documents, "digests", None)  # a memory-mapped table hashed its texts when read
    shas = [d.tobytes().hex() for d in digests] if digests is not None else [d.sha256 for d in index.documents]
    return {i: shas[index.row_of(i)] for i in index.ids}


def corpus_sha256(hashes: dict[str, str]) -> str:
    """One hash for a whole corpus, from its ids and their texts' hashes
    (``corpus_hashes``): the manifest's ``corpus_sha256``."""
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


# -- on disk -------------------------------------------------------------------------------------


def store_config(index: Index) -> StoreConfig:
    """Where ``index`` keeps its vectors now (a loaded index: where its manifest says)."""
    config = getattr(index.store, "config", None)
    return config if isinstance(config, StoreConfig) else StoreConfig.from_manifest(index.manifest.get("store"))


def _write_store(index: Index, folder: Path, config: StoreConfig, show_progress: bool) -> None:
    """Save the vectors to ``config``'s store; ``index.store`` becomes that store."""
    if config.kind is StoreKind.MILVUS:
        from ragdiplo.stores.milvus import MilvusStore

        passages = [index.passage(i) for i in range(len(index))]
        index.store = MilvusStore.sync(config, index.passage_vectors, passages, show_progress=show_progress)
    elif not isinstance(index.store, FaissStore):
        index.store = FaissStore.build(np.asarray(index.passage_vectors), index.ann)
    index.store.save(folder / "passages.faiss")


def _write_data(index: Index, folder: Path, config: StoreConfig, show_progress: bool) -> None:
    with open(folder / "documents.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(document_row(d), ensure_ascii=False) + "\n" for d in index.documents)
    (folder / ALIASES).write_text(json.dumps(dict(sorted(index.alias_of.items())), ensure_ascii=False), encoding="utf-8")
    np.save(folder / "passages.npy", index.passage_rows, allow_pickle=False)
    np.save(folder / "sentences.npy", index.sentence_rows, allow_pickle=False)
    save_rows(folder / "passage_vectors.npy", index.passage_vectors)
    save_rows(folder / "sentence_vectors.npy", index.sentence_vectors)
    _write_store(index, folder, config, show_progress)
    index.bm25.save(folder / "bm25")


def document_row(d: Document) -> dict[str, Any]:
    """A line of ``documents.jsonl``: ``title`` always (older readers expect it),
    the other metadata only when set."""
    return {"id": d.id, "title": d.title, **{k: v for k, v in d.meta.items() if k != "title"}, "text": d.text}


def _manifest(index: Index, config: StoreConfig, data_dir: str, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return seal({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "model_id": index.model_id,
        "backend": index.backend.value if index.backend is not None else None,
        "precision": index.precision.value,
        "dim": index.dim,
        "metric": "inner_product",
        "store": config.to_manifest(),
        "vector_index": index.store.info if isinstance(index.store, FaissStore) else None,
        "ann": index.ann.to_dict(),
        "chunker": index.chunker.to_dict(),
        "analyser": analyser(),
        "counts": {
            "documents": len(index.documents),
            "aliases": len(index.alias_of),
            "passages": len(index),
            "sentences": len(index.sentence_rows),
        },
        "corpus_sha256": corpus_sha256(corpus_hashes(index)),
        "data": data_dir,
        "files": files,
    })


def save_index(
    index: Index,
    path: str | os.PathLike[str],
    *,
    store: StoreConfig | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    corpus: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``index`` to the folder ``path`` crash-safely (see the module docstring),
    waiting up to ``lock_timeout`` seconds for another writer to finish. ``store``
    defaults to where the index keeps its vectors now (FAISS for a new one).
    ``path`` must be new, empty or an index, and apart from ``corpus`` (``claim_folder``)."""
    root = Path(path)
    claim_folder(root, corpus)
    with write_lock(root, lock_timeout):
        save_locked(index, root, store)
    return root


def claim_folder(path: str | os.PathLike[str], corpus: str | os.PathLike[str] | None = None) -> None:
    """Refuse a folder no index may be written to (``durable.claim``), before anything is built for it."""
    if (Path(path) / MANIFEST).is_dir() and not (Path(path) / MANIFEST).is_symlink():
        raise IndexWriteError(f"{Path(path) / MANIFEST}: is a folder, not an index manifest; nothing was changed; "
                              "remove it (and anything in it you need elsewhere) and run again")
    claim(Path(path), corpus, MANIFEST, FORMAT)


def save_locked(index: Index, root: Path, store: StoreConfig | None = None, *, show_progress: bool = False) -> None:
    """``save_index`` for a caller that already holds the write lock."""
    config = store or store_config(index)
    index.manifest = write_generation(
        root,
        lambda folder: _write_data(index, folder, config, show_progress),
        lambda d, f: _manifest(index, config, d, f),
        MANIFEST,
        recorded_generation(root, MANIFEST, FORMAT),
    )
    prune = getattr(index.store, "prune", None)
    if prune is not None:
        prune()  # rows only the previous generation used, now that no reader can open it
