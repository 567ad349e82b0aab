"""Scale benchmark: a million synthetic passages through the library's own index code.

    python benchmarks/scale.py [--passages 1000000] [--json OUT.json] [--workdir /tmp/ragdiplo-scale]

What it makes (all from fixed seeds, nothing downloaded):

* vectors, 384-d like all-MiniLM-L6-v2, L2-normalised, from a clustered mixture
  with a low intrinsic dimension: ``passages / 100`` topic centres lying in a
  shared 64-d subspace, each topic varying along its own 16 directions, plus a
  small isotropic noise and a common offset (real sentence embeddings share a
  mean direction). Uniform Gaussian vectors would be unrealistically hard for
  ANN and unlike real embeddings; these give a nearest neighbour at cosine
  ~0.57 and a 10th at ~0.41 for queries, ~0.02 between random passages.
* queries (1,000): fresh draws of the same mixture with more noise, so they lie
  near the data, not in it; their exact top-10 is computed in the build process.
* text: documents of 10 passages, each of 3 sentences of 8 made-up words, half
  from the passage's topic vocabulary and half Zipf-distributed over 50,000
  words, so BM25 has realistic postings; each sentence gets its own vector.

Then, as a user of the library would: ``FaissStore.build`` (the index type is
chosen by size), ``BM25.build``, ``save_index``; and in a fresh process (so the
build's memory does not count) ``load_index`` (left on disk, as the index is
approximate: vectors read by row, the rest memory-mapped), dense search and the
hybrid retrieval path with the sentence vectors answer scoring reads. Reported:
index type and parameters, build times, recall@10 against exact search,
single-query warm latency p50/p95, and peak RSS of the loading and searching
process per passage (file-backed pages the process mapped and touched count:
they are part of VmHWM), with the resident pages of each mapped file at the end.
``--reuse`` measures an index built before; with ``--json`` naming that run's
results, its build figures and load averages are kept and the rest replaced.
"""

from __future__ import annotations

import os

# FAISS's OpenMP threads otherwise spin while waiting: on a shared 2-core machine
# that made building the index 6x slower (80 s against 13 s for 20,000 passages).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 384
LATENT, LOCAL = 64, 16
PASSAGES_PER_DOC, SENTENCES_PER_PASSAGE, WORDS_PER_SENTENCE = 10, 3, 8
VOCAB, TOPIC_WORDS = 50_000, 300
QUERIES, WARMUP = 1000, 100
CHUNK = 50_000


def machine() -> dict[str, object]:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}


def loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


# -- synthetic data ---------------------------------------------------------------------------------


class Mixture:
    """The clustered, low-intrinsic-dimension vector model described above."""

    def __init__(self, topics: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        basis = rng.standard_normal((LATENT, DIM), dtype=np.float32) / np.sqrt(LATENT)
        centres = rng.standard_normal((topics, LATENT), dtype=np.float32) @ basis
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        mean = rng.standard_normal(DIM).astype(np.float32)
        self.mean = mean * (0.35 / np.linalg.norm(mean))
        spread = np.float32(2.0 / np.sqrt(DIM * LOCAL))
        self.local = rng.standard_normal((topics, LOCAL, DIM), dtype=np.float32) * spread

    def draw(self, topics: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
        z = rng.standard_normal((len(topics), LOCAL), dtype=np.float32)
        x = self.mean + self.centres[topics] + np.einsum("nj,njd->nd", z, self.local[topics])
        x += np.float32(noise / np.sqrt(DIM)) * rng.standard_normal((len(topics), DIM), dtype=np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def vocabulary() -> np.ndarray:
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]  # 70
    words = [syllables[i % 70] + syllables[(i // 70) % 70] + syllables[(i // 4900) % 70] + "x" for i in range(VOCAB)]
    return np.array(words, dtype=object)


def passage_words(topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, per = len(topics), SENTENCES_PER_PASSAGE * WORDS_PER_SENTENCE
    topical = (topics[:, None] * 7919 + rng.integers(0, TOPIC_WORDS, (n, per // 2))) % VOCAB
    common = np.minimum(rng.zipf(1.3, (n, per - per // 2)), VOCAB) - 1
    words = np.concatenate([topical, common], axis=1)
    return np.take_along_axis(words, rng.permuted(np.tile(np.arange(per), (n, 1)), axis=1), axis=1)


def make_text(words: np.ndarray, vocab: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Documents of PASSAGES_PER_DOC passages; passage and sentence rows (doc, start, end)."""
    texts, p_rows, s_rows = [], [], []
    for d in range(0, len(words), PASSAGES_PER_DOC):
        parts, pos = [], 0
        for p in range(d, min(d + PASSAGES_PER_DOC, len(words))):
            start = pos
            for s in range(SENTENCES_PER_PASSAGE):
                ids = words[p, s * WORDS_PER_SENTENCE : (s + 1) * WORDS_PER_SENTENCE]
                sent = " ".join(vocab[ids]).capitalize() + "."
                s_rows.append((len(texts), pos, pos + len(sent)))
                parts.append(sent)
                pos += len(sent) + 1
            p_rows.append((len(texts), start, pos - 1))
        texts.append(" ".join(parts))
    return texts, np.array(p_rows, dtype=np.int64), np.array(s_rows, dtype=np.int64)


def generate(n: int, work: Path) -> dict[str, object]:
    """Vectors (as .npy files in ``work``), texts, queries and their exact top-10."""
    import faiss

    mix = Mixture(max(10, n // 100))
    rng = np.random.default_rng(1)
    topics = rng.integers(0, len(mix.centres), n)
    pv = np.lib.format.open_memmap(work / "pv.npy", "w+", np.float32, (n, DIM))
    sv = np.lib.format.open_memmap(work / "sv.npy", "w+", np.float32, (n * SENTENCES_PER_PASSAGE, DIM))
    for a in range(0, n, CHUNK):
        pv[a : a + CHUNK] = mix.draw(topics[a : a + CHUNK], rng, 0.8)
        near = np.repeat(pv[a : a + CHUNK], SENTENCES_PER_PASSAGE, axis=0)
        near += np.float32(0.8 / np.sqrt(DIM)) * rng.standard_normal(near.shape, dtype=np.float32)
        sv[a * SENTENCES_PER_PASSAGE : (a + CHUNK) * SENTENCES_PER_PASSAGE] = near / np.linalg.norm(
            near, axis=1, keepdims=True
        )
    pv.flush(), sv.flush()
    q_rng = np.random.default_rng(2)
    q_topics = q_rng.integers(0, len(mix.centres), QUERIES)
    queries = mix.draw(q_topics, q_rng, 1.2)
    vocab = vocabulary()
    texts, p_rows, s_rows = make_text(passage_words(topics, rng), vocab)
    q_words = passage_words(q_topics, q_rng)[:, :4]
    questions = [" ".join(vocab[w]) for w in q_words]
    _, truth = faiss.knn(queries, np.asarray(pv), 10, faiss.METRIC_INNER_PRODUCT)
    np.save(work / "queries.npy", queries)
    np.save(work / "truth.npy", truth)
    (work / "questions.json").write_text(json.dumps(questions))
    return {"texts": texts, "passage_rows": p_rows, "sentence_rows": s_rows}


# -- build ------------------------------------------------------------------------------------------


def flat_latency(vectors: np.ndarray, queries: np.ndarray, sizes: tuple[int, ...]) -> dict[int, float]:
    """Exact search p50 by corpus size: where it passes ~5 ms is the approximate threshold."""
    import faiss

    out, threads = {}, faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # one query needs no threads; two spin-wait badly on a busy machine
    for m in (s for s in sizes if s <= len(vectors)):
        flat = faiss.IndexFlatIP(DIM)
        flat.add(np.ascontiguousarray(vectors[:m]))
        flat.search(queries[:20], 10)
        times = []
        for q in queries[:200]:
            t = time.perf_counter()
            flat.search(q.reshape(1, -1), 10)
            times.append(time.perf_counter() - t)
        out[m] = percentiles(times)[0]
    faiss.omp_set_num_threads(threads)
    return out


def build(n: int, work: Path, out: dict[str, object], exact_below: int | None) -> Path:
    from ragdiplo import Document
    from ragdiplo.index.build import Index, save_index
    from ragdiplo.ingest.chunking import ChunkerConfig
    from ragdiplo.stores.ann import AnnConfig
    from ragdiplo.stores.bm25 import BM25
    from ragdiplo.stores.faiss_store import FaissStore

    t = time.perf_counter()
    data = generate(n, work)
    out["generate_s"] = round(time.perf_counter() - t, 1)
    pv = np.load(work / "pv.npy", mmap_mode="r")
    sv = np.load(work / "sv.npy", mmap_mode="r")
    texts, p_rows = data["texts"], data["passage_rows"]
    documents = [Document(f"doc{i:07d}", text) for i, text in enumerate(texts)]  # type: ignore[arg-type]
    out["flat_p50_ms_by_size"] = flat_latency(pv, np.load(work / "queries.npy"), (25_000, 50_000, 100_000, 200_000))
    ann = AnnConfig() if exact_below is None else AnnConfig(exact_below=exact_below)
    t = time.perf_counter()
    store = FaissStore.build(pv, ann)
    out["store_build_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    bm25 = BM25.build([texts[d][s:e] for d, s, e in p_rows.tolist()])  # type: ignore[index]
    out["bm25_build_s"] = round(time.perf_counter() - t, 1)
    s_rows = data["sentence_rows"]
    index = Index(
        documents, p_rows, s_rows, pv, sv, store, bm25, "synthetic-384", ChunkerConfig(), ann=ann  # type: ignore[arg-type]
    )
    root = work / "index"
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    save_index(index, root)
    out["save_s"] = round(time.perf_counter() - t, 1)
    out["build_s"] = round(out["store_build_s"] + out["bm25_build_s"] + out["save_s"], 1)  # type: ignore[operator]
    out["vector_index"] = store.info
    files = sorted(p for p in (root / index.manifest["data"]).rglob("*") if p.is_file())
    out["disk_mb"] = {p.name: round(p.stat().st_size / 2**20, 1) for p in files}
    (work / "pv.npy").unlink(), (work / "sv.npy").unlink()
    return root


# -- load and search, in a fresh process -------------------------------------------------------------


def status() -> dict[str, float]:
    """Current and peak RSS, anonymous and file-backed, in MB."""
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def mapped_rss() -> dict[str, float]:
    """Resident MB of each memory-mapped file (1 MB or more), from /proc/self/smaps."""
    sizes: dict[str, float] = {}
    name = None
    for line in open("/proc/self/smaps"):
        head = line.split()
        if "-" in head[0] and len(head) >= 5:  # a mapping's first line: range perms offset dev inode [path]
            name = os.path.basename(head[5]) if len(head) > 5 and head[5].startswith("/") else None
        elif head[0] == "Rss:" and name:
            sizes[name] = sizes.get(name, 0.0) + int(head[1]) / 1024
    return {k: round(v, 1) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1]) if v >= 1}


def percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.array(times) * 1e3
    return round(float(np.percentile(ms, 50)), 3), round(float(np.percentile(ms, 95)), 3)


def serve(work: Path) -> dict[str, object]:
    """Load the saved index memory-mapped, then time searches; prints JSON."""
    out: dict[str, object] = {}
    import ragdiplo.index.load  # noqa: F401  (imports first, so their memory is measured on its own)
    from ragdiplo.answer.retrieval import rank_rows
    from ragdiplo.index.load import load_index

    queries, truth = np.load(work / "queries.npy"), np.load(work / "truth.npy")
    questions = json.loads((work / "questions.json").read_text())
    out["rss_after_imports"] = status()
    t = time.perf_counter()
    index = load_index(work / "index")
    out["load_s"] = round(time.perf_counter() - t, 2)
    out["rss_after_load"] = status()
    out["manifest_vector_index"] = index.manifest["vector_index"]
    for q in queries[:WARMUP]:
        index.store.search(q, 10)
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, rows = index.store.search(q, 10)
        times.append(time.perf_counter() - t)
        found.append(rows[0])
    out["recall_at_10"] = round(float(np.mean([len(set(f) & set(g)) / 10 for f, g in zip(found, truth)])), 4)
    out["search_p50_ms"], out["search_p95_ms"] = percentiles(times)
    out["rss_after_search"] = status()
    times = []
    for question, q in zip(questions, queries):
        t = time.perf_counter()
        top = [row for row, _ in rank_rows(index, question, q)[:10]]
        sentences = np.concatenate([np.arange(r.start, r.stop) for r in map(index.sentences_in, top)])
        _ = index.sentence_vectors[sentences] @ q  # what answer scoring reads
        times.append(time.perf_counter() - t)
    out["hybrid_p50_ms"], out["hybrid_p95_ms"] = percentiles(times)
    out["rss_end"] = status()
    out["mapped_rss_end_mb"] = mapped_rss()
    out["peak_rss_mb"] = out["rss_end"]["VmHWM"]  # not ru_maxrss: Linux carries it over from the forking parent
    return out


def evict(root: Path) -> None:
    """Drop the index files from the page cache (they were just written, so all
    cached): the measuring process then maps only the pages it reads, as after a
    reboot, instead of whatever cached neighbours the kernel maps along."""
    for file in (p for p in root.rglob("*") if p.is_file()):
        fd = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ragdiplo-scale"))
    parser.add_argument("--exact-below", type=int, help="passages below which search stays exact (library default)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the fresh measuring process
    parser.add_argument("--reuse", action="store_true", help="measure the index already in --workdir")
    args = parser.parse_args()
    if args.serve:
        print(json.dumps(serve(args.workdir)))
        return
    n = args.passages
    args.workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, object] = {"passages": n, "machine": machine(), "loadavg_start": loadavg()}
    out["omp_wait_policy"] = os.environ["OMP_WAIT_POLICY"]
    if args.reuse and args.json and args.json.is_file():  # keep the build figures of the run that built it
        out = {**json.loads(args.json.read_text()), "reused_build": True}
    if not args.reuse:
        build(n, args.workdir, out, args.exact_below)
        out["build_loadavg"] = loadavg()
    out["serve_loadavg_start"] = loadavg()
    evict(args.workdir / "index")
    cmd = [sys.executable, __file__, "--serve", "--workdir", str(args.workdir)]
    run = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    out.update(json.loads(run.stdout.strip().splitlines()[-1]))
    out["ram_per_passage_kb"] = round(out["peak_rss_mb"] * 1024 / n, 3)  # type: ignore[operator]
    out["loadavg_end"] = loadavg()
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
