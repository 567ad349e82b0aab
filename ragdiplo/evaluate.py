"""Batch evaluation against a gold question set (format: shared gold README).

Metrics are pure functions over plain data. A retrieved passage or a citation
"hits" evidence when it overlaps an evidence quote, in the same document, by at
least min(20, len(quote)) characters.
"""

from __future__ import annotations

import json
import re
import string
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CorpusError, GoldError
from .types import Answer, Document

_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


@dataclass(frozen=True)
class Evidence:
    doc: str
    start: int
    end: int


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[Evidence, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def _read_lines(path: str | Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise GoldError(f"{path}: cannot read the gold file ({err})") from None


def read_gold(path: str | Path, documents: dict[str, Document]) -> list[GoldQuestion]:
    """Read gold JSONL, locating each evidence quote in its document."""
    gold = []
    for lineno, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            gold.append(_gold_question(row, documents))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            raise GoldError(f"{path}:{lineno}: not a gold question ({type(err).__name__}: {err}); see the gold format") from None
        except CorpusError as err:
            raise CorpusError(f"{path}:{lineno}: {err}") from None
    return gold


def _gold_question(row: dict[str, Any], documents: dict[str, Document]) -> GoldQuestion:
    evidence = []
    for ev in row.get("evidence", []):
        doc = documents.get(ev["doc"])
        start = doc.text.find(ev["quote"]) if doc else -1
        if start < 0:
            raise CorpusError(f"evidence quote not found in {ev['doc']!r}; is the index built from the right corpus?")
        evidence.append(Evidence(ev["doc"], start, start + len(ev["quote"])))
    if not isinstance(row["question"], str):
        raise TypeError("question must be a string")
    return GoldQuestion(str(row["id"]), row["question"], tuple(row.get("answers", [])), tuple(evidence))


# -- normalisation and matching ------------------------------------------------------------------


def normalize_answer(text: str, *, split_punctuation: bool = False) -> str:
    """SQuAD normalisation (lower case, punctuation, articles and extra space
    removed), with curly quotes and dashes folded first. ``split_punctuation``
    turns punctuation into spaces instead, so "30-day" also matches "30 day"."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    text = "".join((" " if split_punctuation else "") if ch in string.punctuation else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_answer(prediction: str | None, answers: Iterable[str]) -> bool:
    """True when a gold phrase stands in the prediction as whole words, under
    either way of treating punctuation ("U.S." ~ "US", "30-day" ~ "30 day")."""
    if not prediction:
        return False
    answers = list(answers)
    for split in (False, True):
        pred = f" {normalize_answer(prediction, split_punctuation=split)} "
        if any(n and f" {n} " in pred for n in (normalize_answer(a, split_punctuation=split) for a in answers)):
            return True
    return False


def token_f1(prediction: str | None, answers: Iterable[str]) -> float:
    """Best SQuAD token F1 of the prediction over the gold answers."""
    pred = normalize_answer(prediction or "").split()
    best = 0.0
    for gold in answers:
        ref = normalize_answer(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def exact_match(prediction: str | None, answers: Iterable[str]) -> bool:
    return prediction is not None and any(normalize_answer(prediction) == normalize_answer(a) for a in answers)


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


# -- a run -----------------------------------------------------------------------------------------


def prediction_row(q: GoldQuestion, answer: Answer, latency_ms: float) -> dict[str, Any]:
    return {
        "id": q.id,
        "question": q.question,
        "answer": answer.text,
        "confidence": round(answer.confidence, 6),
        "citations": [{k: v for k, v in c.to_dict().items() if k != "duplicates"} for c in answer.citations],
        "retrieved": [h.to_dict() for h in answer.retrieved],
        "latency_ms": round(latency_ms, 3),
    }


def predict(
    gold: list[GoldQuestion], ask: Callable[[str], Answer], progress: Callable[[Iterable[Any]], Iterable[Any]] = iter
) -> list[dict[str, Any]]:
    rows = []
    for q in progress(gold):
        t0 = time.perf_counter()
        ans = ask(q.question)
        rows.append(prediction_row(q, ans, (time.perf_counter() - t0) * 1000))
    return rows


def score(gold: list[GoldQuestion], predictions: list[dict[str, Any]]) -> dict[str, float]:
    """The gold README's metrics, as a flat dict of named numbers."""
    answerable = [(q, p) for q, p in zip(gold, predictions) if q.answerable]
    unanswerable = [(q, p) for q, p in zip(gold, predictions) if not q.answerable]
    n = max(len(answerable), 1)
    ranks = [first_hit_rank(p["retrieved"], q.evidence) for q, p in answerable]
    ans_ok = [contains_answer(p["answer"], q.answers) for q, p in answerable]
    cite_ok = [any(overlaps(c["doc"], c["start"], c["end"], q.evidence) for c in p["citations"]) for q, p in answerable]
    answered = [p["answer"] for _, p in answerable if p["answer"] is not None]
    return {
        "questions": len(gold),
        "answerable": len(answerable),
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
        "answer_accuracy": sum(ans_ok) / n,
        "citation_accuracy": sum(cite_ok) / n,
        "correct_with_citation": sum(a and c for a, c in zip(ans_ok, cite_ok)) / n,
        "exact_match": sum(exact_match(p["answer"], q.answers) for q, p in answerable) / n,
        "token_f1": sum(token_f1(p["answer"], q.answers) for q, p in answerable) / n,
        "mean_answer_chars": sum(map(len, answered)) / max(len(answered), 1),
        "unanswerable": len(unanswerable),
        "abstention_accuracy": (
            sum(p["answer"] is None for _, p in unanswerable) / len(unanswerable) if unanswerable else float("nan")
        ),
        "false_abstention": sum(p["answer"] is None for _, p in answerable) / n,
        "latency_p50_ms": _percentile([p["latency_ms"] for p in predictions], 50),
        "latency_p95_ms": _percentile([p["latency_ms"] for p in predictions], 95),
    }


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    pos = (len(values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def write_jsonl(rows: list[dict[str, Any]], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
