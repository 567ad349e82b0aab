"""Batch evaluation: run a question set through the library and score it.

Two kinds of run share one result shape (``Evaluation``): answering gold
questions (gold JSONL or SQuAD; answers, citations, abstention, calibration)
and ranking documents for BEIR queries (retrieval only). The metrics themselves
are pure functions in metrics.py; the input readers live in datasets.py.

A retrieved passage or a citation "hits" evidence when it overlaps an evidence
quote, in the same document, by at least min(20, len(quote)) characters.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ragdiplo._version import __version__
from ragdiplo.answer.retrieval import RetrievalConfig, rank_rows
from ragdiplo.durable import atomic_write_text
from ragdiplo.errors import OutputError
from ragdiplo.eval.datasets import BeirSet, Evidence, GoldQuestion, read_gold
from ragdiplo.eval.metrics import (
    aurc,
    contains_answer,
    exact_match,
    hit_at_k,
    mean,
    ndcg_at_k,
    normalize_answer,
    percentile,
    recall_at_k,
    reciprocal_rank,
    risk_coverage,
    span_overlap,
    token_f1,
)
from ragdiplo.index.build import Index, corpus_hashes
from ragdiplo.types import Answer

__all__ = ["Evaluation", "Evidence", "GoldQuestion", "contains_answer", "exact_match", "first_hit_rank",
    "format_metrics", "normalize_answer", "overlaps", "predict", "prediction_row", "rank_documents", "rank_queries",
    "read_gold", "run_info", "score", "score_answers", "score_ranking", "token_f1", "write_jsonl", "write_output",
    "write_trec"]  # fmt: skip

RUN_DEPTH = 100  # documents per query in a TREC run: enough for recall@100
CURVE_POINTS = 101  # risk-coverage points kept in the JSON and the report
Progress = Callable[[Iterable[Any]], Iterable[Any]]


@dataclass(frozen=True)
class Evaluation:
    """What a run measured: named metrics, curves for plotting, and one outcome
    per question (``passed`` is what ``--compare`` follows)."""

    metrics: dict[str, float]
    curves: dict[str, list[Any]]
    questions: list[dict[str, Any]]
    predictions: list[dict[str, Any]] = field(default_factory=list)
    ranking: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


def overlaps(doc: str, start: int, end: int, evidence: Iterable[Evidence]) -> bool:
    return any(
        ev.doc == doc and min(end, ev.end) - max(start, ev.start) >= min(20, ev.end - ev.start) for ev in evidence
    )


def first_hit_rank(retrieved: list[dict[str, Any]], evidence: tuple[Evidence, ...]) -> int | None:
    """1-based rank of the first retrieved passage overlapping the evidence."""
    for rank, r in enumerate(retrieved, 1):
        if overlaps(r["doc"], r["start"], r["end"], evidence):
            return rank
    return None


# -- answering gold questions ----------------------------------------------------------------------


def prediction_row(q: GoldQuestion, answer: Answer, latency_ms: float) -> dict[str, Any]:
    return {
        "id": q.id,
        "question": q.question,
        "answer": answer.text,
        "confidence": round(answer.confidence, 6),
        "citations": [{k: v for k, v in c.to_dict().items() if k != "duplicates"} for c in answer.citations],
        "retrieved": [h.to_dict() for h in answer.retrieved],
        "latency_ms": round(latency_ms, 3),
        "conflicts": [r.to_dict() for r in answer.conflicts],
        "closest": [{"doc": c.doc_id, "start": c.start, "end": c.end, "text": c.text} for c in answer.closest],
    }


def predict(
    gold: list[GoldQuestion], answers: Callable[[list[str]], Iterable[Answer]], progress: Progress = iter
) -> list[dict[str, Any]]:
    """A row per question of what ``answers(questions)`` yields, in order: ``QA.ask_iter`` (questions embedded
    together) or ``lambda qs: map(ask, qs)`` (one by one). A row's latency is the time since the previous answer,
    so the first question of an embedding batch carries the batch's embedding."""
    rows, start = [], time.perf_counter()
    for q, ans in zip(progress(gold), answers([q.question for q in gold]), strict=True):
        rows.append(prediction_row(q, ans, (time.perf_counter() - start) * 1000))
        start = time.perf_counter()
    return rows


def question_outcome(q: GoldQuestion, p: dict[str, Any]) -> dict[str, Any]:
    """One question's verdicts. It passes when answered right with a citation of
    the evidence, or, having no answer in the corpus, left unanswered."""
    cited = [(c["doc"], c["start"], c["end"]) for c in p["citations"]]
    precision, recall = span_overlap(cited, [(e.doc, e.start, e.end) for e in q.evidence])
    contains = contains_answer(p["answer"], q.answers)
    cites = any(overlaps(d, s, e, q.evidence) for d, s, e in cited)
    abstained = p["answer"] is None
    return {
        "id": q.id,
        "question": q.question,
        "answer": p["answer"],
        "gold": list(q.answers),
        "evidence": [[e.doc, e.start, e.end] for e in q.evidence],
        "answerable": q.answerable,
        "passed": (contains and cites) if q.answerable else abstained,
        "contains": contains,
        "cites_evidence": cites,
        "exact": exact_match(p["answer"], q.answers),
        "f1": round(token_f1(p["answer"], q.answers), 6),
        "citation_precision": round(precision, 6) if cited else None,
        "citation_recall": round(recall, 6),
        "abstained": abstained,
        "confidence": float(p.get("confidence") or 0.0),
        "hit_rank": first_hit_rank(p["retrieved"], q.evidence),
        "latency_ms": p.get("latency_ms"),
        "reports_differ": bool(p.get("conflicts")),
    }


def score(gold: list[GoldQuestion], predictions: list[dict[str, Any]]) -> dict[str, float]:
    """The gold README's metrics, as a flat dict of named numbers."""
    return score_answers(gold, predictions).metrics


def score_answers(gold: list[GoldQuestion], predictions: list[dict[str, Any]]) -> Evaluation:
    """All answer, citation, abstention, calibration and latency metrics of a run."""
    out = [question_outcome(q, p) for q, p in zip(gold, predictions)]
    ok = [o for o in out if o["answerable"]]
    no = [o for o in out if not o["answerable"]]
    n = max(len(ok), 1)
    ranks = [o["hit_rank"] for o in ok]
    answered = [o["answer"] for o in ok if o["answer"] is not None]
    curve = risk_coverage([o["confidence"] for o in out], [o["passed"] and o["answerable"] for o in out])
    latencies = [o["latency_ms"] for o in out if o["latency_ms"] is not None]
    metrics = {
        "questions": len(gold),
        "answerable": len(ok),
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
        "answer_accuracy": sum(o["contains"] for o in ok) / n,
        "citation_accuracy": sum(o["cites_evidence"] for o in ok) / n,
        "correct_with_citation": sum(o["passed"] for o in ok) / n,
        "exact_match": sum(o["exact"] for o in ok) / n,
        "token_f1": sum(o["f1"] for o in ok) / n,
        "citation_precision": mean(o["citation_precision"] for o in ok if o["citation_precision"] is not None),
        "citation_recall": sum(o["citation_recall"] for o in ok) / n,
        "mean_answer_chars": sum(map(len, answered)) / max(len(answered), 1),
        "unanswerable": len(no),
        "abstention_accuracy": sum(o["abstained"] for o in no) / len(no) if no else float("nan"),
        "false_abstention": sum(o["abstained"] for o in ok) / n,
        # share of all questions answered with conflicting dated reports (``Answer.conflicts``)
        "reports_differ": sum(o["reports_differ"] for o in out) / max(len(out), 1),
        "aurc": aurc(curve),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }
    depth = max((len(p["retrieved"]) for p in predictions), default=0)
    hits = [[k, sum(r is not None and r <= k for r in ranks) / n] for k in range(1, depth + 1)]
    return Evaluation(metrics, {"hit@k": hits, "risk_coverage": _thin(curve), "latency_ms": latencies}, out, predictions)


def _thin(curve: list[tuple[float, float]]) -> list[list[float]]:
    """At most CURVE_POINTS evenly spaced points of a curve, its ends kept."""
    if len(curve) <= CURVE_POINTS:
        return [[round(c, 6), round(r, 6)] for c, r in curve]
    picks = np.unique(np.linspace(0, len(curve) - 1, CURVE_POINTS).round().astype(int))
    return [[round(curve[i][0], 6), round(curve[i][1], 6)] for i in picks]


# -- ranking documents (BEIR) ----------------------------------------------------------------------


def rank_documents(
    index: Index, query: str, vector: np.ndarray, config: RetrievalConfig, depth: int = RUN_DEPTH,
    aliases: dict[str, list[str]] | None = None,
) -> list[tuple[str, float]]:
    """Documents ranked by their best passage under the library's fused ranking.

    Enough candidate passages are fused that ``depth`` documents usually come
    out; a document stored once for several ids (``aliases``: stored id -> the
    other ids) ranks under each. Ties are ordered as trec_eval orders them
    (document id, descending), so metrics computed here and from the written
    run file agree exactly.
    """
    wide = dataclasses.replace(config, candidates=max(config.candidates, 10 * depth))
    aliases = alias_lists(index) if aliases is None else aliases
    best: dict[str, float] = {}
    for row, value in rank_rows(index, query, vector, wide):
        doc = index.documents[int(index.passage_rows[row, 0])].id
        for d in (doc, *aliases.get(doc, ())):
            best[d] = max(best.get(d, value), value)
    return sorted(best.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:depth]


def alias_lists(index: Index) -> dict[str, list[str]]:
    """Stored document id -> the other ids holding the same text."""
    out: dict[str, list[str]] = {}
    for alias, stored in sorted(index.alias_of.items()):
        out.setdefault(stored, []).append(alias)
    return out


def rank_queries(
    index: Index, embed_question: Callable[[str], np.ndarray], queries: dict[str, str], config: RetrievalConfig,
    progress: Progress = iter, depth: int = RUN_DEPTH,
) -> tuple[dict[str, list[tuple[str, float]]], dict[str, float]]:
    """Every query's document ranking, and its latency in milliseconds."""
    ranking, latency, aliases = {}, {}, alias_lists(index)
    for qid in progress(list(queries)):
        t0 = time.perf_counter()
        ranking[qid] = rank_documents(index, queries[qid], embed_question(queries[qid]), config, depth, aliases)
        latency[qid] = (time.perf_counter() - t0) * 1000
    return ranking, latency


def score_ranking(
    beir: BeirSet, ranking: dict[str, list[tuple[str, float]]], latency: dict[str, float] | None = None
) -> Evaluation:
    """hit@k, recall@k, MRR@10, nDCG@10 and recall@100, averaged over the judged queries."""
    out, lat = [], latency or {}
    for qid in beir.queries:
        qrels = beir.qrels[qid]
        docs = [d for d, _ in ranking.get(qid, [])]
        first = next((r for r, d in enumerate(docs, 1) if qrels.get(d, 0) > 0), None)
        out.append({
            "id": qid, "question": beir.queries[qid], "passed": first is not None and first <= 10,
            "ndcg@10": round(ndcg_at_k(docs, qrels, 10), 6), "recall@100": round(recall_at_k(docs, qrels, 100), 6),
            "hit_rank": first, "relevant": sorted(d for d, g in qrels.items() if g > 0), "top": docs[:10],
            "latency_ms": round(lat[qid], 3) if qid in lat else None,
        })  # fmt: skip
    runs = [([d for d, _ in ranking.get(q, [])], beir.qrels[q]) for q in beir.queries]
    metrics: dict[str, float] = {"queries": len(runs)}
    for k in (1, 5, 10):
        metrics[f"hit@{k}"] = mean(hit_at_k(r, q, k) for r, q in runs)
    for k in (1, 5, 10):
        metrics[f"recall@{k}"] = mean(recall_at_k(r, q, k) for r, q in runs)
    metrics["mrr@10"] = mean(reciprocal_rank(r, q, 10) for r, q in runs)
    metrics["ndcg@10"] = mean(ndcg_at_k(r, q, 10) for r, q in runs)
    metrics["recall@100"] = mean(recall_at_k(r, q, 100) for r, q in runs)
    metrics["latency_p50_ms"] = percentile(list(lat.values()), 50)
    metrics["latency_p95_ms"] = percentile(list(lat.values()), 95)
    curve = [[k, round(mean(recall_at_k(r, q, k) for r, q in runs), 6)] for k in range(1, RUN_DEPTH + 1)]
    return Evaluation(metrics, {"recall@k": curve, "latency_ms": [round(x, 3) for x in lat.values()]}, out, ranking=ranking)


def write_trec(ranking: dict[str, list[tuple[str, float]]], path: str | Path, tag: str = "ragdiplo") -> None:
    """A TREC run file, ``qid Q0 docid rank score tag``; scores are written in full
    precision so a reader re-sorting by score gets the same order."""
    lines = (f"{qid} Q0 {doc} {rank} {value!r} {tag}\n" for qid, docs in ranking.items() for rank, (doc, value) in enumerate(docs, 1))
    write_output(path, "".join(lines))


def write_output(path: str | Path, text: str) -> None:
    """Write ``text`` to the output file ``path`` the user named.

    A regular file, new or old, is replaced atomically (a temporary sibling, then
    one rename), so an interrupted run leaves the old file or the new one. A
    symlink is never replaced: the file it leads to is written, atomically when
    that is a regular file. This process's own standard output or error
    (``/dev/stdout``) is written as a stream, and any other file that is not
    regular (a device such as ``/dev/null``, a FIFO) is opened and written
    directly: a rename would put a regular file in its place.
    """
    try:
        try:
            info: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            info = None  # a new file, or a link to one
        stream = _own_stream(info)
        if stream is not None:
            stream.flush()
            stream.buffer.write(text.encode("utf-8"))
            stream.buffer.flush()
        elif info is not None and not stat.S_ISREG(info.st_mode):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            atomic_write_text(os.path.realpath(path), text)
    except BrokenPipeError:
        raise  # the reader of standard output went away: the command line's exit status 141
    except OSError as err:
        raise OutputError(f"{path}: cannot be written ({err.strerror or err}); free disk space or choose another path") from None


def _own_stream(info: os.stat_result | None) -> Any:
    """sys.stdout or sys.stderr when ``info`` is the file behind it, else None."""
    for stream in (sys.stdout, sys.stderr):
        try:
            own = os.fstat(stream.fileno())
        except (AttributeError, OSError, ValueError):  # replaced by an object with no file behind it
            continue
        if not hasattr(stream, "buffer"):
            continue
        if info is not None and (own.st_dev, own.st_ino) == (info.st_dev, info.st_ino):
            return stream
    return None


# -- reproducibility -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _is_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def run_info(index: Index, index_path: str | None, settings: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """What makes a run reproducible: code, model, index, settings and input hashes."""
    manifest = json.dumps(index.manifest, sort_keys=True).encode() if index.manifest else None
    return {
        "library_version": __version__,
        "model_id": index.model_id,
        "index": {
            "path": index_path,
            "manifest_sha256": hashlib.sha256(manifest).hexdigest() if manifest else None,
            "corpus_sha256": hashlib.sha256(json.dumps(corpus_hashes(index), sort_keys=True).encode()).hexdigest(),
            "documents": len(index.documents),
            "passages": len(index),
            "chunker": index.chunker.to_dict(),
        },
        "settings": {k: _plain(dataclasses.asdict(v)) if _is_instance(v) else v for k, v in settings.items()},
        "input": inputs,
    }


def to_json(info: dict[str, Any], result: Evaluation) -> dict[str, Any]:
    """The ``--json`` document; NaN becomes null so it stays strict JSON."""
    clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in result.metrics.items()}
    return {"format": "ragdiplo-eval", "version": 1, "run": info, "metrics": clean, "curves": result.curves,
            "questions": result.questions}  # fmt: skip


def format_metrics(metrics: dict[str, float]) -> str:
    """One ``name  value`` line per metric, names padded to a column."""
    width = max(map(len, metrics), default=0)
    return "\n".join(
        f"{name:<{width}}  {value:.4f}" if isinstance(value, float) else f"{name:<{width}}  {value}"
        for name, value in metrics.items()
    )


def write_json(doc: Any, path: str | Path) -> None:
    write_output(path, json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False) + "\n")


def write_jsonl(rows: list[dict[str, Any]], path: str | Path) -> None:
    write_output(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
