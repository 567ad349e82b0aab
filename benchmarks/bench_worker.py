"""One measured job of benchmarks/run.py, in a process of its own.

    python benchmarks/bench_worker.py build ragdiplo|peer CORPUS OUT QUESTIONS.json REPS   (REPS 0: build only)
    python benchmarks/bench_worker.py cold  ragdiplo|peer OUT QUESTION

``build`` indexes CORPUS into OUT (timed from reading the corpus to the index on
disk; loading the model is not part of it, cold start counts that), then times
the questions, warm (wall clock and the process's CPU time, which a busy
shared machine disturbs less). ``cold`` loads OUT and answers one question: run.py times
the whole process from outside. Each prints one JSON line, with the process's
own peak RSS. Imports happen inside the jobs, so a cold start pays for them.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

WARMUP = 3
# ragdiplo passages hold at most 200 model tokens with 50 overlapping, about 140 and 35 words
PEER_SPLIT_WORDS, PEER_OVERLAP_WORDS = 140, 35
TOP_K = 10


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def model_path() -> str:
    from ragdiplo.embed.base import default_model_path

    return str(default_model_path())


# -- ragdiplo ------------------------------------------------------------------------------------


def ragdiplo_build(corpus: str, out: str) -> tuple[object, dict[str, float]]:
    from ragdiplo import QA, QAConfig, build_index, load_corpus, save_index
    from ragdiplo.answer.retrieval import retrieve
    from ragdiplo.embed.base import embed_question
    from ragdiplo.embed.factory import default_embedder

    embedder = default_embedder()
    start, start_cpu = time.perf_counter(), time.process_time()
    documents = load_corpus(corpus)
    index = build_index(documents, embedder)
    save_index(index, out)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    stats = {"build_s": seconds, "build_cpu_s": cpu, "passages": len(index), "texts_embedded": len(index) + len(index.sentence_rows),
             "chars": sum(len(d.text) for d in documents), "model_id": embedder.model_id, "runtime": ragdiplo_runtime(embedder)}
    qa = QA(index, embedder, index_path=out)
    rules = QA(index, embedder, QAConfig(reader=None), index_path=out)

    def ask(question: str, cached: bool = False, mode: str = "answer") -> None:
        """``mode``: "answer" (the default: retrieval, then the shipped reader),
        "rules" (retrieval, then the sentence rules), "retrieve" (embedding the
        question and ranking passages only: the same work as the peer's pipeline)."""
        if mode == "retrieve":
            retrieve(index, question, embed_question(embedder, question), min(TOP_K, len(index)))
            return
        handle = rules if mode == "rules" else qa
        if not cached:
            handle._question_vector.cache_clear()
        handle.ask(question, k=min(TOP_K, len(index)))

    return ask, stats


def ragdiplo_runtime(embedder: object) -> dict[str, object]:
    """What ran here: the embedding runtime the CPU rule chose (or ``$RAGDIPLO_BACKEND``), its threads, the
    questions' runtime and the reader's threads, and whether ONNX Runtime's idle threads spin."""
    from ragdiplo.answer.readers.shipped import READER_THREADS
    from ragdiplo.embed.factory import choose_runtime, cpu_capabilities, openvino_available
    from ragdiplo.embed.onnx_backend import session_options, usable_cores

    rule = choose_runtime(cpu_capabilities(), openvino_available())
    return {"build": f"{embedder.backend.value}/{embedder.precision.value}",  # type: ignore[attr-defined]
            "rule": f"{rule[0].value}/{rule[1].value}", "forced": os.environ.get("RAGDIPLO_BACKEND"),
            "build_threads": usable_cores(), "questions": "onnx/float32", "question_threads": usable_cores(),
            "reader_threads": min(READER_THREADS, usable_cores()),
            "ort_spinning": session_options(1).get_session_config_entry("session.intra_op.allow_spinning") != "0"}


def ragdiplo_cold(out: str, question: str) -> str | None:
    from ragdiplo import QA

    return QA.load(out).ask(question).text


# -- the peer: Haystack 2.x ----------------------------------------------------------------------


def peer_query_pipeline(store: object) -> object:
    from haystack import Pipeline
    from haystack.components.embedders import SentenceTransformersTextEmbedder
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever

    pipe = Pipeline()
    pipe.add_component("embed", SentenceTransformersTextEmbedder(
        model=model_path(), local_files_only=True, progress_bar=False, normalize_embeddings=True))
    pipe.add_component("dense", InMemoryEmbeddingRetriever(store, top_k=TOP_K))
    pipe.add_component("bm25", InMemoryBM25Retriever(store, top_k=TOP_K))
    pipe.add_component("join", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=TOP_K))
    pipe.connect("embed.embedding", "dense.query_embedding")
    pipe.connect("dense", "join")
    pipe.connect("bm25", "join")
    pipe.warm_up()
    return pipe


def peer_ask(pipe: object, question: str) -> list[object]:
    result = pipe.run({"embed": {"text": question}, "bm25": {"query": question}})  # type: ignore[attr-defined]
    return result["join"]["documents"]


def peer_build(corpus: str, out: str) -> tuple[object, dict[str, float]]:
    from haystack import Document, Pipeline
    from haystack.components.embedders import SentenceTransformersDocumentEmbedder
    from haystack.components.preprocessors import DocumentSplitter
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from ragdiplo import load_corpus

    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    pipe = Pipeline()
    # word-based splitting: sentence splitting would need NLTK data downloaded
    pipe.add_component("split", DocumentSplitter(split_by="word", split_length=PEER_SPLIT_WORDS,
                                                 split_overlap=PEER_OVERLAP_WORDS))
    pipe.add_component("embed", SentenceTransformersDocumentEmbedder(
        model=model_path(), local_files_only=True, progress_bar=False, normalize_embeddings=True))
    pipe.add_component("write", DocumentWriter(store))
    pipe.connect("split", "embed")
    pipe.connect("embed", "write")
    pipe.warm_up()
    start, start_cpu = time.perf_counter(), time.process_time()
    documents = load_corpus(corpus)
    pipe.run({"split": {"documents": [Document(content=d.text, meta={"doc": d.id}) for d in documents]}})
    store.save_to_disk(os.path.join(out, "store.json"))
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    stats = {"build_s": seconds, "build_cpu_s": cpu, "passages": store.count_documents(), "texts_embedded": store.count_documents(),
             "chars": sum(len(d.text) for d in documents), "model_id": "bundled all-MiniLM-L6-v2 folder"}
    import torch  # loaded by sentence-transformers already

    stats["runtime"] = {"build": "torch/float32", "torch_threads": torch.get_num_threads(),
                        "torch_interop_threads": torch.get_num_interop_threads()}
    query = peer_query_pipeline(store)
    return (lambda question, cached=False: peer_ask(query, question)), stats


def peer_cold(out: str, question: str) -> str | None:
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    store = InMemoryDocumentStore.load_from_disk(os.path.join(out, "store.json"))
    docs = peer_ask(peer_query_pipeline(store), question)
    return docs[0].meta.get("doc") if docs else None


# -- jobs ----------------------------------------------------------------------------------------


def build_job(system: str, corpus: str, out: str, questions_file: str, reps: int) -> dict[str, object]:
    os.makedirs(out, exist_ok=True)
    ask, stats = (ragdiplo_build if system == "ragdiplo" else peer_build)(corpus, out)
    if reps == 0:  # a build-only run: run.py takes the median build of several processes
        return dict(stats)
    with open(questions_file, encoding="utf-8") as f:
        questions = json.load(f)
    for q in questions[:WARMUP]:
        ask(q)
    times, cpu = [], []
    for _ in range(reps):
        for q in questions:
            start, start_cpu = time.perf_counter(), time.process_time()
            ask(q)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
    from ragdiplo.eval.metrics import percentile  # after the build, so it does not weigh on what was measured

    result: dict[str, object] = dict(stats)
    result.update(ask_p50_ms=percentile(times, 50), ask_p95_ms=percentile(times, 95), asks=len(times),
                  ask_cpu_p50_ms=percentile(cpu, 50))
    if system == "ragdiplo":  # each question asked again right away, its vector remembered
        cached = []
        for q in questions:
            ask(q)
            start = time.perf_counter()
            ask(q, cached=True)
            cached.append((time.perf_counter() - start) * 1000)
        result["ask_repeated_p50_ms"] = percentile(cached, 50)
        for mode in ("rules", "retrieve"):  # the peer only retrieves: these are its like-for-like numbers
            timed = []
            for q in questions:
                start = time.perf_counter()
                ask(q, mode=mode)
                timed.append((time.perf_counter() - start) * 1000)
            result[f"ask_{mode}_p50_ms"] = percentile(timed, 50)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main(argv: list[str]) -> None:
    job, system = argv[0], argv[1]
    if system not in ("ragdiplo", "peer"):
        raise SystemExit(f"unknown system {system!r}")
    if job == "build":
        result = build_job(system, argv[2], argv[3], argv[4], int(argv[5]))
    elif job == "cold":
        answer = (ragdiplo_cold if system == "ragdiplo" else peer_cold)(argv[2], argv[3])
        result = {"answer": answer, "peak_rss_mb": peak_rss_mb()}
    else:
        raise SystemExit(f"unknown job {job!r}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
