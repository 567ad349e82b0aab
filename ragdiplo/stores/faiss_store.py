"""Dense vector stores: a small interface and the FAISS implementation.

Row ``i`` of a store is passage ``i`` of the index. The interface follows the
txtai ANN layer (add / delete / search / count / save) so another backend can
sit behind it; the index reaches vectors only through these methods. Opening a
store is backend-specific (``FaissStore.load`` reads a file,
``MilvusStore.connect`` in milvus_store.py reconnects to a collection), and
``StoreConfig`` says which one an index folder uses. Vectors are L2-normalised,
so inner product is cosine similarity.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import faiss
import numpy as np

from ragdiplo.errors import ConfigError, IndexMismatchError
from ragdiplo.stores.ann import FLAT, IVF_PQ, AnnConfig, build_ivfpq, rerank_search
from ragdiplo.stores.rowfile import CHUNK_ROWS, Vectors
from ragdiplo.types import Passage

EXACT_SUBSET_ROWS = 200_000  # a filtered search on an approximate store scores this many rows or fewer exactly


@dataclass(frozen=True)
class Subset:
    """The passages a filtered search may return (a metadata filter): their rows,
    sorted, for stores that select by row (FAISS), and the ids of the stored
    documents holding them and of the others, for stores that filter by
    document (Milvus uses whichever list is shorter)."""

    rows: np.ndarray  # int64, sorted
    doc_ids: tuple[str, ...]
    other_doc_ids: tuple[str, ...]


@runtime_checkable
class VectorStore(Protocol):
    """What the index needs from a vector backend."""

    @property
    def dim(self) -> int: ...

    def add(self, vectors: np.ndarray, passages: Sequence[Passage] | None = None) -> None:
        """Append rows, in order, after the existing ones; ``passages`` are what the
        vectors stand for (a store that keeps metadata needs them, FAISS does not)."""
        ...

    def delete(self, rows: Sequence[int]) -> None:
        """Remove rows; the rest keep their order and are renumbered from 0."""
        ...

    def search(self, queries: np.ndarray, k: int, subset: Subset | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, rows) per query, best first, among ``subset``'s rows when
        given (filtered inside the search, so these are the best matching rows);
        rows are -1 where fewer exist."""
        ...

    def count(self) -> int: ...

    def save(self, path: Path) -> None: ...


class FaissStore:
    """FAISS inner-product search: exact (``IndexFlatIP``) for small corpora,
    IVF-PQ fast scan with exact re-ranking above ``AnnConfig.exact_below`` passages (ann.py).

    ``info`` describes the index type, its parameters and, for an approximate
    one, its measured recall@10; the manifest keeps it under ``vector_index``.
    A store opened memory-mapped is read-only in FAISS (changing it would abort
    the process), so it is copied into memory before any change. ``add`` and
    ``delete`` on an approximate store keep its trained lists and leave ``info``'s
    recall as measured; the index's own updates rebuild the store instead.
    """

    kind = "faiss-flat-ip"

    def __init__(
        self,
        index: faiss.Index,
        vectors: Vectors | None = None,
        info: dict[str, Any] | None = None,
        source: BinaryIO | None = None,
    ) -> None:
        self._index = index
        self._vectors = vectors  # the exact rows an approximate index re-ranks with
        self.info: dict[str, Any] = dict(info or {"type": FLAT})
        self._source = source  # the open file of a memory-mapped index

    @classmethod
    def create(cls, dim: int) -> FaissStore:
        return cls(faiss.IndexFlatIP(dim))

    @classmethod
    def build(cls, vectors: np.ndarray, ann: AnnConfig | None = None) -> FaissStore:
        """Exact below ``ann.exact_below`` passages, approximate from there on."""
        ann = ann or AnnConfig()
        vectors = np.asarray(vectors)
        if len(vectors) < ann.exact_below or len(vectors) < 2:
            store = cls.create(int(vectors.shape[1]))
            store.add(vectors)
            return store
        index, params = build_ivfpq(vectors, ann)
        return cls(index, vectors, {"type": IVF_PQ, **params})

    @property
    def approximate(self) -> bool:
        return self._vectors is not None

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def count(self) -> int:
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.count()

    def exact_rows(self) -> np.ndarray | None:
        """The rows of an exact store in memory, as FAISS holds them (a view); None
        for an approximate or memory-mapped one."""
        if self._vectors is not None or self._source is not None or not isinstance(self._index, faiss.IndexFlat):
            return None
        return faiss.rev_swig_ptr(self._index.get_xb(), self.count() * self.dim).reshape(-1, self.dim)

    def _writable(self) -> None:
        if self._source is not None:
            self._source.seek(0)
            self._index = faiss.deserialize_index(np.frombuffer(self._source.read(), dtype=np.uint8))
            self._source.close()
            self._source = None

    def add(self, vectors: np.ndarray, passages: Sequence[Passage] | None = None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self._writable()
        self._index.add(vectors)
        if self._vectors is not None:
            self._vectors = np.concatenate([self._vectors, vectors])

    def delete(self, rows: Sequence[int]) -> None:
        ids = np.unique(np.asarray(rows, dtype=np.int64))
        if len(ids) and (ids[0] < 0 or ids[-1] >= self.count()):
            raise IndexError(f"rows must lie in [0, {self.count()})")
        self._writable()
        if self._vectors is None:
            # a flat index compacts, keeping the order of the rest
            self._index.remove_ids(ids)  # type: ignore[arg-type]
            return
        self._vectors = np.delete(self._vectors, ids, axis=0)  # IVF keeps ids: refill, so rows renumber
        self._index.reset()
        self._index.add(np.ascontiguousarray(self._vectors, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int, subset: Subset | None = None) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, self.count()))
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if subset is not None:
            return self._search_subset(queries, k, subset.rows)
        if self._vectors is not None:
            return rerank_search(self._index, self._vectors, queries, k, int(self.info["rerank"]))
        scores, rows = self._index.search(queries, k)
        return scores, rows

    def _search_subset(self, queries: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search restricted to ``rows``: FAISS's ID selector on a flat index;
        on an approximate one, the subset's own vectors scored exactly (up to
        ``EXACT_SUBSET_ROWS``), else the IVF lists searched with the selector."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._vectors is None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows))  # type: ignore[call-arg]
            scores, found = self._index.search(queries, k, params=params)
            return scores, found
        if len(rows) > EXACT_SUBSET_ROWS:
            ivf = faiss.extract_index_ivf(self._index)
            params = faiss.SearchParametersIVF(sel=faiss.IDSelectorBatch(rows), nprobe=ivf.nprobe)  # type: ignore[call-arg]
            return rerank_search(self._index, self._vectors, queries, k, int(self.info["rerank"]), params)
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_rows = np.full((len(queries), k), -1, dtype=np.int64)
        exact = np.empty((len(rows), len(queries)), dtype=np.float32)
        for a in range(0, len(rows), CHUNK_ROWS):  # bounded reads of vectors that may be on disk
            exact[a : a + CHUNK_ROWS] = np.asarray(self._vectors[rows[a : a + CHUNK_ROWS]], dtype=np.float32) @ queries.T
        for i in range(len(queries)):
            best = np.lexsort((rows, -exact[:, i]))[:k]  # ties to the lower row, as everywhere
            out_scores[i, : len(best)], out_rows[i, : len(best)] = exact[best, i], rows[best]
        return out_scores, out_rows

    def save(self, path: Path) -> None:
        if self._source is None:
            # through a Python file: FAISS's own writer only prints a failed close (a
            # full disk), leaving a truncated file; here any failed write raises OSError
            with open(path, "wb") as f:
                faiss.write_index(self._index, faiss.PyCallbackIOWriter(f.write))  # type: ignore[attr-defined]
            return
        self._source.seek(0)  # FAISS would write a mapped IVF index as a reference to its file
        with open(path, "wb") as f:
            shutil.copyfileobj(self._source, f, 1 << 20)

    @classmethod
    def load(
        cls, path: Path, vectors: Vectors | None = None, info: dict[str, Any] | None = None, mmap: bool = False
    ) -> FaissStore:
        """Open ``path``; ``info`` (the manifest's ``vector_index``) says its type,
        and an approximate index needs its ``vectors`` to re-rank with."""
        info = dict(info or {"type": FLAT})
        if info["type"] not in (FLAT, IVF_PQ):
            raise ValueError(f"{path}: unknown vector index type {info['type']!r}")
        flags = 0
        if mmap:
            flags = (faiss.IO_FLAG_MMAP_IFC if info["type"] == FLAT else faiss.IO_FLAG_MMAP) | faiss.IO_FLAG_READ_ONLY
        source = open(path, "rb") if mmap else None
        try:
            index = faiss.read_index(str(path), flags)
        except BaseException:
            if source is not None:
                source.close()
            raise
        expected = faiss.IndexFlatIP if info["type"] == FLAT else faiss.IndexIVFPQFastScan
        if index.metric_type != faiss.METRIC_INNER_PRODUCT or not isinstance(index, expected):
            raise ValueError(f"{path}: not the inner-product {info['type']} FAISS index the manifest names")
        if info["type"] == IVF_PQ:
            if vectors is None:
                raise ValueError(f"{path}: an approximate index needs its passage vectors")
            index.nprobe, info["rerank"] = int(info["nprobe"]), int(info["rerank"])  # type: ignore[union-attr]
            return cls(index, vectors, info, source)
        return cls(index, None, info, source)


class StoreKind(str, Enum):
    FAISS = "faiss"
    MILVUS = "milvus"


DEFAULT_COLLECTION = "ragdiplo"
SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")


def normalise_uri(uri: str) -> str:
    """A server address as given; a Milvus Lite file as an absolute path, so the
    manifest still points at it when read from another working directory."""
    if uri.startswith(SERVER_SCHEMES):
        return uri
    if not uri.endswith(".db"):
        rule = "a Milvus Lite file must end in .db, a server be http://host:port"
        raise ConfigError(f"StoreConfig(uri={uri!r}): {rule}", cli_message=f"--milvus-uri {uri!r}: {rule}")
    return str(Path(uri).expanduser().resolve())


@dataclass(frozen=True)
class StoreConfig:
    """Where an index keeps its passage vectors: a FAISS file in the index folder
    (the default), or a Milvus collection at ``uri`` (a ``.db`` file path for
    Milvus Lite, ``http://host:19530`` for a server or cluster)."""

    kind: StoreKind = StoreKind.FAISS
    uri: str | None = None  # None when reconnecting: the manifest's
    collection: str | None = None  # None: DEFAULT_COLLECTION, or the manifest's when reconnecting

    def __post_init__(self) -> None:
        if self.kind is StoreKind.FAISS and (self.uri, self.collection) != (None, None):
            raise ConfigError("StoreConfig's uri and collection only apply with StoreKind.MILVUS",
                              cli_message="--milvus-uri and --milvus-collection only apply with --store milvus")
        if self.uri is not None:
            object.__setattr__(self, "uri", normalise_uri(self.uri))

    @property
    def collection_name(self) -> str:
        return self.collection or DEFAULT_COLLECTION

    def to_manifest(self) -> str | dict[str, Any]:
        """FAISS keeps the plain kind string older manifests carry."""
        if self.kind is StoreKind.FAISS:
            return FaissStore.kind
        return {"kind": self.kind.value, "uri": self.uri, "collection": self.collection_name}

    @classmethod
    def from_manifest(cls, entry: Any) -> StoreConfig:
        if isinstance(entry, dict) and entry.get("kind") == StoreKind.MILVUS.value:
            return cls(StoreKind.MILVUS, str(entry["uri"]), str(entry["collection"]))
        if entry in (None, FaissStore.kind):
            return cls()
        raise ValueError(f"unknown vector store {entry!r}")

    def reconnect(self, given: StoreConfig | None) -> StoreConfig:
        """This recorded store, at the address ``given`` names (another machine may
        reach the same Milvus by another host name); a different kind is an error."""
        if given is None:
            return self
        if given.kind is not self.kind:
            what = f"the index keeps its vectors in {self.kind.value}, not {given.kind.value}"
            raise IndexMismatchError(
                f"{what}; pass no store (store=None), or rebuild the index with "
                f"save_index(..., store=StoreConfig(StoreKind.{given.kind.name}, ...))",
                cli_message=f"{what}; drop --store, or re-index with --store {given.kind.value}",
            )
        return StoreConfig(self.kind, given.uri or self.uri, given.collection or self.collection)

    @staticmethod
    def choose(given: StoreConfig | None, current: StoreConfig | None) -> StoreConfig:
        """The store an update writes to: the ``given`` options, completed from the
        ``current`` store when it is of the same kind (default: the current one, or FAISS)."""
        if given is None or current is None or given.kind is not current.kind:
            return given or current or StoreConfig()
        return current.reconnect(given)

    def check_chosen(self, root: Path, given: StoreConfig | None) -> None:
        """An index folder alone may not choose where to connect or what to create
        outside itself: a Milvus store is used when the user gave its address
        (``given.uri``), or when it is a Milvus Lite store inside ``root``."""
        if self.kind is StoreKind.FAISS or self.uri is None or (given is not None and given.uri is not None):
            return  # (a new store without an address: creating it says the uri is needed)
        uri = str(self.uri)
        if not uri.startswith(SERVER_SCHEMES) and Path(uri).resolve().is_relative_to(Path(root).resolve()):
            return
        what = (f"{root}: the index keeps its vectors in the Milvus collection {self.collection_name!r} at {uri!r}; "
                "an index folder alone may not choose where to connect: if you trust that address, pass it with")
        raise ConfigError(f"{what} store=StoreConfig(StoreKind.MILVUS, URI)",
                          cli_message=f"{what} --store milvus --milvus-uri URI")
