"""Dense vector stores: a small interface and the FAISS implementation.

Row ``i`` of a store is passage ``i`` of the index. The interface follows the
txtai ANN layer (add / delete / search / count / save / load) so another
backend can sit behind it; the index reaches vectors only through these
methods. Vectors are L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import faiss
import numpy as np


@runtime_checkable
class VectorStore(Protocol):
    """What the index needs from a vector backend."""

    @property
    def dim(self) -> int: ...

    def add(self, vectors: np.ndarray) -> None:
        """Append rows, in order, after the existing ones."""
        ...

    def delete(self, rows: Sequence[int]) -> None:
        """Remove rows; the rest keep their order and are renumbered from 0."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, rows) per query, best first; rows are -1 where fewer exist."""
        ...

    def count(self) -> int: ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> VectorStore: ...


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

    def add(self, vectors: np.ndarray) -> None:
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
