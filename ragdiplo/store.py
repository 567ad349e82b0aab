"""The dense vector store: a thin wrapper over a FAISS inner-product index.

Vectors are L2-normalised, so inner product is cosine similarity. Row ``i`` of
the store is passage ``i`` of the index.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


class FaissStore:
    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray) -> FaissStore:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return cls(index)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, rows) per query; rows are -1 where fewer exist."""
        k = max(1, min(k, len(self)))
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        scores, rows = self._index.search(queries, k)
        return scores, rows

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> FaissStore:
        return cls(faiss.read_index(str(path)))
