"""The reader's candidate answers, one per place in a document.

The reader reads a few contexts around the sentences most about the question
and proposes its ``n`` best spans in each. The same words of the same document
read inside two overlapping contexts are one candidate, keyed by their offsets
in the document: their reader margins are combined (log-sum-exp: two
contexts that find a span count for more than either), never raced against
each other. Each candidate
carries named features (``FEATURES``) that the decision (``decision.py``)
weighs: what the reader thinks of the span, what the sentence rules think of
its sentence, where retrieval ranked it, whether it is the kind of answer asked
for, its length, the question's names around it, and whether other documents
propose the same words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ragdiplo.answer.contexts import sentence_contexts, whole_quotes
from ragdiplo.answer.question import AnswerType, Question
from ragdiplo.answer.readers import Reader, ReaderSpan, locate
from ragdiplo.answer.spans import candidates as typed_spans
from ragdiplo.index.build import Index
from ragdiplo.stores.bm25 import terms

# every feature of a candidate, by group; the decision's weights follow this order
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "reader": ("margin", "margin_gap", "nbest"),
    "sentence": ("sentence", "sentence_gap", "dense", "lexical"),
    "retrieval": ("rank",),
    "type": ("typed", "type_missing"),
    "span": ("length", "echo"),
    "names": ("names_missing", "unknown_name"),
    "agreement": ("agree",),
}
FEATURES: tuple[str, ...] = tuple(name for group in FEATURE_GROUPS.values() for name in group)
MAX_AGREE = 3  # other documents proposing the same words count up to this many


@dataclass(frozen=True)
class Candidate:
    """One span a reader proposed: its offsets into document ``doc_row``'s
    text, the reader's margin over "no answer" combined over the ``copies``
    contexts that proposed it, the retrieval rank of the best of those
    contexts (0 first), and its features in ``FEATURES`` order. ``score`` is
    what the decision ranks it by (``decision.rank``; 0 until ranked)."""

    doc_row: int
    start: int
    end: int
    margin: float
    copies: int
    rank: int
    features: tuple[float, ...] = ()
    score: float = 0.0

    def feature(self, name: str) -> float:
        return self.features[FEATURES.index(name)]


@dataclass(frozen=True)
class Proposal:
    """One span as one context proposed it, before merging: document offsets,
    the reader's margin, its place in the context's n-best list, and the
    context's rank."""

    doc_row: int
    start: int
    end: int
    margin: float
    nbest: int
    rank: int


class ScoredSentence(Protocol):
    """What the sentence rules found of one sentence (``rules.ScoredSentence``):
    its row, its combined score, its similarity to the question and its share
    of the question's rare words."""

    @property
    def row(self) -> int: ...
    @property
    def score(self) -> float: ...
    @property
    def dense(self) -> float: ...
    @property
    def lexical(self) -> float: ...


@dataclass(frozen=True)
class _Floor:
    """The lowest rule scores, for a sentence the rules did not score."""

    row: int
    score: float
    dense: float
    lexical: float


def proposals(
    contexts: Sequence[tuple[int, int, int, int]],
    texts: Sequence[str],
    nbest: Sequence[Sequence[ReaderSpan]],
    document_text: Mapping[int, str] | Sequence[str],
    grow: Callable[[str, int, int], tuple[int, int]] | None = None,
) -> list[Proposal]:
    """Each span of ``nbest`` (one list per context, best first) as document
    offsets: ``contexts`` are (doc row, start, end, rank) and ``texts`` their
    text. Spans that do not stand in their context are dropped. ``grow``
    (``(text, s, e) -> (s, e)``) may widen a span, e.g. to whole quotes, in its
    document's text (``document_text[doc row]``)."""
    out = []
    for (doc_row, start, _, rank), text, spans in zip(contexts, texts, nbest):
        for position, span in enumerate(spans):
            at = locate(span, text)
            if at is None:
                continue
            s, e = start + at[0], start + at[1]
            if grow is not None:
                s, e = grow(document_text[doc_row], s, e)
            out.append(Proposal(doc_row, s, e, span.margin, position, rank))
    return out


def merge(found: Sequence[Proposal]) -> list[tuple[Proposal, int]]:
    """The proposals merged by document offsets, each distinct span once with
    how many contexts proposed it. The copies' evidence is combined, not
    raced: the merged margin is the log of the summed exponentials of their
    margins (two contexts that both find the span count for more than either),
    its n-best place and context rank the best among them."""
    by_span: dict[tuple[int, int, int], list[Proposal]] = {}
    for p in found:
        by_span.setdefault((p.doc_row, p.start, p.end), []).append(p)
    merged = []
    for (doc_row, start, end), copies in by_span.items():
        top = max(p.margin for p in copies)
        margin = top + math.log(sum(math.exp(p.margin - top) for p in copies))
        rank, nbest = min(p.rank for p in copies), min(p.nbest for p in copies)
        merged.append((Proposal(doc_row, start, end, margin, nbest, rank), len(copies)))
    return merged


def gather(
    index: Index,
    question: Question,
    query_vector: np.ndarray,
    found: Sequence[Proposal],
    sentences: Mapping[int, ScoredSentence],
) -> list[Candidate]:
    """Merged candidates with their features, in no particular order.
    ``sentences`` maps a sentence row to what the rules found of it; a span in
    a sentence the rules did not score (a neighbour outside the read passages)
    gets the lowest of their scores. A candidate's ``dense`` is the best
    similarity to the question among the sentences holding it."""
    merged = merge(found)
    if not merged:
        return []
    floor = _Floor(-1, *(min((getattr(v, f) for v in sentences.values()), default=0.0)
                         for f in ("score", "dense", "lexical")))  # fmt: skip
    best_margin = max(p.margin for p, _ in merged)
    best_sentence = max((v.score for v in sentences.values()), default=0.0)
    unknown_name = names_unknown(index, question)
    said = [(p.doc_row, words(index.documents[p.doc_row].text[p.start : p.end]), p.margin) for p, _ in merged]
    out = []
    for p, copies in merged:
        text = index.documents[p.doc_row].text[p.start : p.end]
        first = index.sentence_at(p.doc_row, p.start)
        last = max(first, index.sentence_at(p.doc_row, p.end - 1))
        ev = sentences.get(first, floor)
        dense = float(np.max(np.asarray(index.sentence_vectors[first : last + 1]) @ query_vector.reshape(-1)))
        key = words(text)
        agree = len({d for d, w, m in said if d != p.doc_row and w == key and m > 0})
        typed = question.kind is not AnswerType.OTHER and bool(typed_spans(text, question.kind))
        span_terms = set(terms(text))
        named = {
            "margin": p.margin,
            "margin_gap": p.margin - best_margin,
            "nbest": 1.0 / (p.nbest + 1),
            "sentence": ev.score,
            "sentence_gap": ev.score - best_sentence,
            "dense": dense,
            "lexical": ev.lexical,
            "rank": 1.0 / (p.rank + 1),
            "typed": float(typed),
            "type_missing": float(question.kind is not AnswerType.OTHER and not typed),
            "length": math.log1p(len(text.split())),
            "echo": len(span_terms & question.asked) / len(span_terms) if span_terms else 1.0,
            "names_missing": names_missing(index, question, p.doc_row, p.start, p.end),
            "unknown_name": float(unknown_name),
            "agree": float(min(agree, MAX_AGREE)),
        }
        features = tuple(named[name] for name in FEATURES)
        out.append(Candidate(p.doc_row, p.start, p.end, p.margin, copies, p.rank, features))
    return out


def names_unknown(index: Index, question: Question) -> bool:
    """Whether the question names something the corpus never mentions."""
    return any(not all(t in index.bm25 for t in name) for name in question.names)


def read_candidates(
    index: Index,
    question: Question,
    query_vector: np.ndarray,
    reader: Reader,
    scored: Sequence[ScoredSentence],
    sentences: int,
    spans: int,
) -> list[Candidate]:
    """What ``reader`` proposes around the best ``sentences`` of the ``scored``
    ones (the rules' scores, best first), each read with its neighbours
    (``contexts.sentence_contexts``), ``spans`` spans a context: one candidate
    per span of a document however many contexts found it, unranked."""
    contexts = sentence_contexts(index, [item.row for item in scored[:sentences]])
    documents = {c.doc_row: index.documents[c.doc_row].text for c in contexts}  # only the documents read
    texts = [documents[c.doc_row][c.start : c.end] for c in contexts]
    nbest = reader.read_nbest(question.text, texts, spans)
    where = [(c.doc_row, c.start, c.end, c.rank) for c in contexts]
    found = proposals(where, texts, nbest, documents, whole_quotes)
    return gather(index, question, query_vector, found, {item.row: item for item in scored})


def words(text: str) -> str:
    """``text`` lower-cased as its words joined by single spaces."""
    return " ".join(re.findall(r"\w+", text.lower()))


def around(index: Index, doc_row: int, s: int, e: int) -> str:
    """The sentence(s) of document ``doc_row`` holding its characters ``s:e``,
    with the sentence on either side in the same document."""
    first = index.sentence_at(doc_row, s)
    last = max(first, index.sentence_at(doc_row, max(s, e - 1)))
    if first > 0 and int(index.sentence_rows[first - 1, 0]) == doc_row:
        first -= 1
    if last + 1 < len(index.sentence_rows) and int(index.sentence_rows[last + 1, 0]) == doc_row:
        last += 1
    return index.documents[doc_row].text[int(index.sentence_rows[first, 1]) : int(index.sentence_rows[last, 2])]


def names_missing(index: Index, question: Question, doc_row: int, s: int, e: int) -> float:
    """Share of the question's names (``Question.names``) not all of whose
    terms stand in the sentence(s) holding ``s:e`` of document ``doc_row`` or
    the sentence on either side (``around``); 0 when the question names nothing."""
    if not question.names:
        return 0.0
    present = set(terms(around(index, doc_row, s, e)))
    return sum(not all(t in present for t in name) for name in question.names) / len(question.names)


__all__ = ["FEATURES", "FEATURE_GROUPS", "Candidate", "Proposal", "ScoredSentence", "around", "gather", "merge",
           "names_missing", "names_unknown", "proposals", "read_candidates", "words"]  # fmt: skip
