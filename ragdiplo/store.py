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

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import faiss
import numpy as np

from .errors import ConfigError, IndexMismatchError
from .types import Passage


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

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, rows) per query, best first; rows are -1 where fewer exist."""
        ...

    def count(self) -> int: ...

    def save(self, path: Path) -> None: ...


class FaissStore:
    """Exact inner-product search (``faiss.IndexFlatIP``)."""

    kind = "faiss-flat-ip"

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def create(cls, dim: int) -> FaissStore:
        return cls(faiss.IndexFlatIP(dim))

    @classmethod
    def build(cls, vectors: np.ndarray) -> FaissStore:
        store = cls.create(int(np.asarray(vectors).shape[1]))
        store.add(vectors)
        return store

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def count(self) -> int:
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.count()

    def add(self, vectors: np.ndarray, passages: Sequence[Passage] | None = None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self._index.add(vectors)

    def delete(self, rows: Sequence[int]) -> None:
        ids = np.unique(np.asarray(rows, dtype=np.int64))
        if len(ids) and (ids[0] < 0 or ids[-1] >= self.count()):
            raise IndexError(f"rows must lie in [0, {self.count()})")
        self._index.remove_ids(ids)  # type: ignore[arg-type]  # a flat index compacts, keeping the order of the rest

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, self.count()))
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        scores, rows = self._index.search(queries, k)
        return scores, rows

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> FaissStore:
        index = faiss.read_index(str(path))
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError(f"{path}: not an inner-product FAISS index")
        return cls(index)


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
        raise ConfigError(f"--milvus-uri {uri!r}: a Milvus Lite file must end in .db, a server be http://host:port")
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
            raise ConfigError("--milvus-uri and --milvus-collection only apply with --store milvus")
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
            raise IndexMismatchError(
                f"the index keeps its vectors in {self.kind.value}, not {given.kind.value}; drop --store, "
                f"or re-index with --store {given.kind.value}"
            )
        return StoreConfig(self.kind, given.uri or self.uri, given.collection or self.collection)

    @staticmethod
    def choose(given: StoreConfig | None, current: StoreConfig | None) -> StoreConfig:
        """The store an update writes to: the ``given`` options, completed from the
        ``current`` store when it is of the same kind (default: the current one, or FAISS)."""
        if given is None or current is None or given.kind is not current.kind:
            return given or current or StoreConfig()
        return current.reconnect(given)
