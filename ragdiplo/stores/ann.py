"""Approximate nearest-neighbour search for big corpora: IVF-PQ (fast scan) with exact re-ranking.

Exact search (``IndexFlatIP``) reads every vector for every query: fine for the
corpora the library ships with, too slow and too big in RAM at a million
passages (384 float32 = 1.5 KB a passage). Above ``AnnConfig.exact_below``
passages the store therefore keeps an IVF-PQ index instead (FAISS's fast-scan
variant: 96 4-bit codes, 48 bytes, and an 8-byte id a passage, scanned with SIMD
lookups) and re-scores its best ``max(k, rerank)`` candidates
exactly against the passage vectors the index keeps anyway
(``passage_vectors.npy``): returned scores are exact inner products. A big
index leaves that file on disk and reads only the candidates' rows, with
``pread`` (rowfile.py), as disk-resident ANN indexes such as DiskANN do: the
codes are in RAM, the full vectors read per query, and the rows read are cached
by the kernel's page cache, not kept in the process.
It was chosen by measurement (README, section "Scale"): HNSW and IVF-SQ8 reach
the same recall but need the full vectors or 8 times the codes in RAM, and
plain 8-bit IVF-PQ needed 11 ms a query at 1M passages where fast scan needs 1.3.

The structure is rebuilt from the vectors alone, deterministically (training
rows drawn with a fixed seed, FAISS k-means seeded), so an incremental update
gives the same ANN index as a full rebuild. Its recall@10 against exact search
is measured when it is built, on a sample of the passages (each one a query
for its nearest other passages), and kept in the manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import faiss
import numpy as np

from ragdiplo.errors import ConfigError
from ragdiplo.stores.rowfile import Vectors

FLAT = "flat-ip"
IVF_PQ = "ivf-pq-fastscan-rerank"
EXACT_BELOW = 50_000  # passages; exact search p50 measured 6.9 ms at 50k, 13.8 ms at 100k (README, "Scale")
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class AnnConfig:
    """When the FAISS store turns approximate, and how it is built.

    ``exact_below``: corpora with fewer passages keep exact search. ``nprobe`` is
    chosen at build time: the smallest of ``NPROBES`` whose recall@10 on
    ``sample`` passages reaches ``target_recall``."""

    exact_below: int = EXACT_BELOW
    pq_m: int = 96  # 4-bit sub-quantizers: pq_m / 2 bytes of code a passage
    rerank: int = 50  # candidates re-scored exactly: the best max(k, rerank) of IVF-PQ
    target_recall: float = 0.97
    sample: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.exact_below < 0 or self.pq_m < 1 or self.rerank < 0 or self.sample < 1:
            raise ConfigError(f"AnnConfig out of range: {self}")
        if not 0.0 < self.target_recall <= 1.0:
            raise ConfigError(f"target_recall must lie in (0, 1], not {self.target_recall}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, entry: Any) -> AnnConfig:
        if entry is None:
            return cls()
        if not isinstance(entry, dict) or set(entry) - set(cls.__dataclass_fields__):
            raise ValueError(f"bad ANN settings {entry!r}")
        return cls(**entry)


def _sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(size, n), replace=False))


def _pq_m(dim: int, wanted_m: int) -> int:
    """The most sub-quantizers up to ``wanted_m`` that divide ``dim`` evenly, in
    pairs (fast scan packs two 4-bit codes a byte)."""
    return next((m for m in range(min(wanted_m, dim), 1, -1) if dim % m == 0 and m % 2 == 0), 2)


def train_ivfpq(vectors: Vectors, config: AnnConfig) -> tuple[faiss.Index, dict[str, Any]]:
    """An IVF-PQ index over ``vectors`` (rows = ids) and its parameters."""
    n, dim = vectors.shape
    nlist = int(max(1, min(round(np.sqrt(n)), n // 39 or 1)))  # FAISS wants >= 39 training rows a list
    rows = _sample_rows(n, max(64 * nlist, 256 * 40), config.seed)
    train = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    m = _pq_m(dim, config.pq_m)
    if dim % m:
        raise ConfigError(f"no even number of sub-quantizers divides the dimension {dim}")
    index = faiss.IndexIVFPQFastScan(faiss.IndexFlatIP(dim), dim, nlist, m, 4, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = index.pq.cp.seed = config.seed + 1234
    index.pq.cp.min_points_per_centroid = 1  # 16 centroids: a small corpus trains them well enough, unwarned
    index.train(train)
    for start in range(0, n, 1 << 16):  # bounded copies of vectors that may be on disk
        index.add(np.ascontiguousarray(vectors[start : start + (1 << 16)], dtype=np.float32))
    return index, {"nlist": nlist, "pq_m": m, "pq_bits": 4, "train_rows": len(train)}


def rerank_search(
    index: faiss.Index, vectors: Vectors, queries: np.ndarray, k: int, depth: int, params: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` by exact inner product among the index's top-``depth`` candidates
    (FAISS search ``params``, e.g. a row selector, when given)."""
    _, cands = index.search(queries, max(k, depth), params=params)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    rows = np.full((len(queries), k), -1, dtype=np.int64)
    for i, c in enumerate(cands):
        c = np.sort(c[c >= 0])  # ascending rows: ties go to the lower row
        exact = np.asarray(vectors[c], dtype=np.float32) @ queries[i]
        best = np.lexsort((c, -exact))[:k]
        scores[i, : len(best)], rows[i, : len(best)] = exact[best], c[best]
    return scores, rows


def recall_at_10(
    vectors: Vectors, search: Any, sample: int, seed: int, exact: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """Mean recall@10 of ``search(queries, k)`` against exact search, each sampled
    passage querying for its 10 nearest other passages (itself left out of both)."""
    n = len(vectors)
    k = min(10, n - 1)
    if k < 1:
        return 1.0, (np.zeros(0), np.zeros(0))
    if exact is None:
        rows = _sample_rows(n, sample, seed + 1)
        queries = np.ascontiguousarray(vectors[rows], dtype=np.float32)
        base = np.ascontiguousarray(vectors, dtype=np.float32)
        _, truth = faiss.knn(queries, base, k + 1, faiss.METRIC_INNER_PRODUCT)
        exact = (rows, truth)
    rows, truth = exact
    _, found = search(np.ascontiguousarray(vectors[rows], dtype=np.float32), k + 1)
    hits = [
        len(set(f[f != r].tolist()[:k]) & set(t[t != r].tolist()[:k])) / k for r, f, t in zip(rows, found, truth)
    ]
    return float(np.mean(hits)), exact


def build_ivfpq(vectors: Vectors, config: AnnConfig) -> tuple[faiss.Index, dict[str, Any]]:
    """The trained and filled index, with the smallest ``nprobe`` reaching the
    target recall; the parameters include the measured recall@10."""
    index, params = train_ivfpq(vectors, config)
    exact = None
    for nprobe in [p for p in NPROBES if p < params["nlist"]] + [params["nlist"]]:
        index.nprobe = nprobe  # type: ignore[attr-defined]  # an IVF index (faiss' stubs type it as Index)
        recall, exact = recall_at_10(
            vectors, lambda q, k: rerank_search(index, vectors, q, k, config.rerank), config.sample, config.seed, exact
        )
        if recall >= config.target_recall:
            break
    assert exact is not None  # the loop ran at least once
    params.update(nprobe=int(index.nprobe), rerank=config.rerank)  # type: ignore[attr-defined]
    params.update(recall_at_10=round(recall, 4), recall_queries=len(exact[0]))
    return index, params
