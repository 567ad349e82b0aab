"""Answering: retrieved passages → scored sentences → a short, cited answer.

Every sentence inside the top passages is scored by its similarity to the
question (the embedder's vectors, computed at index time), by how much of the
question's rarer vocabulary it holds, by whether it contains the kind of answer
the question asks for, and by the rank of its passage. The best sentence is the
citation; the answer is a typed span of it or the sentence itself. A confidence
below the abstention threshold gives no answer rather than a wrong one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import QuestionError
from .extract import AnswerType, answer_type, best_span
from .index import Index
from .lexical import terms
from .retrieval import RetrievalConfig, rank_rows
from .types import Answer, Citation, Hit

MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class QAConfig:
    """Weights of the sentence score and the abstention threshold on it."""

    read_passages: int = 5
    w_dense: float = 1.0
    w_lexical: float = 0.7
    w_type: float = 0.3
    w_rank: float = 0.1
    context_weight: float = 0.5
    threshold: float = 0.55
    min_dense: float = 0.25
    scale: float = 10.0
    max_citations: int = 3
    cite_margin: float = 0.05
    retrieval: RetrievalConfig = RetrievalConfig()


@dataclass(frozen=True)
class ScoredSentence:
    row: int
    score: float
    dense: float
    lexical: float
    typed: bool


def check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty; ask something, e.g. 'What backstop did Starmer ask for?'")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}")
    if not re.search(r"\w", question):
        raise QuestionError("the question has no words in it")
    return question.strip()


def lexical_coverage(weights: dict[str, float], sentence: set[str], context: set[str], context_weight: float) -> float:
    """Share of the question's IDF mass found in the sentence; terms found only in
    the sentence before it count at ``context_weight``, since news sentences
    often name their subject once and continue with "he" or "it"."""
    total = sum(weights.values())
    if not total:
        return 0.0
    inside = sum(w for t, w in weights.items() if t in sentence)
    before = sum(w for t, w in weights.items() if t in context and t not in sentence)
    return (inside + context_weight * before) / total


def score_sentences(
    index: Index, question: str, query_vector: np.ndarray, ranked: list[tuple[int, float]], config: QAConfig
) -> list[ScoredSentence]:
    kind = answer_type(question)
    weights = {t: index.bm25.idf(t) for t in set(terms(question))}
    prior: dict[int, float] = {}
    for rank, (row, _) in enumerate(ranked[: config.read_passages]):
        for s in index.sentences_in(row):
            prior.setdefault(s, 1.0 / (rank + 1))
    rows = sorted(prior)
    if not rows:
        return []
    dense = index.sentence_vectors[rows] @ query_vector.reshape(-1)
    cache: dict[int, set[str]] = {}

    def sentence_terms(row: int) -> set[str]:
        if row not in cache:
            doc, s, e = index.sentence(row)
            cache[row] = set(terms(doc.text[s:e]))
        return cache[row]

    scored = []
    for row, d in zip(rows, dense):
        doc, s, e = index.sentence(row)
        text = doc.text[s:e]
        same_doc = row > 0 and index.sentence_rows[row - 1][0] == index.sentence_rows[row][0]
        context = sentence_terms(row - 1) if same_doc else set()
        lex = lexical_coverage(weights, sentence_terms(row), context, config.context_weight)
        typed = kind is not AnswerType.OTHER and best_span(question, text, kind) is not None
        score = config.w_dense * float(d) + config.w_lexical * lex + config.w_type * typed + config.w_rank * prior[row]
        scored.append(ScoredSentence(row, score, float(d), lex, typed))
    scored.sort(key=lambda x: (-x.score, x.row))
    return scored


def _key(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a) and len(a & b) / len(a | b) >= 0.8


def make_citations(index: Index, scored: list[ScoredSentence], config: QAConfig) -> list[Citation]:
    """The best sentence and close runners-up, each repeated quote cited once
    with the other places it stands recorded as duplicates."""
    groups: list[tuple[ScoredSentence, frozenset[str], list[tuple[str, int, int]]]] = []
    for item in scored:
        doc, s, e = index.sentence(item.row)
        key = _key(doc.text[s:e])
        for _, gkey, dups in groups:
            if _similar(key, gkey):
                dups.append((doc.id, s, e))
                break
        else:
            groups.append((item, key, []))
    best = scored[0].score
    citations = []
    for item, _, dups in groups:
        if len(citations) == config.max_citations or (citations and item.score < best - config.cite_margin):
            break
        doc, s, e = index.sentence(item.row)
        citations.append(Citation(doc.id, s, e, doc.text[s:e], item.score, tuple(dups)))
    return citations


def short_answer(question: str, citation: Citation) -> str:
    """A typed span of the cited sentence, or the whole sentence."""
    kind = answer_type(question)
    if kind is not AnswerType.OTHER:
        span = best_span(question, citation.text, kind)
        if span is not None:
            return citation.text[span[0] : span[1]]
    return citation.text


def confidence(best: ScoredSentence, config: QAConfig) -> float:
    """Below 0.5 when either the combined score or the plain semantic similarity
    is under its threshold: a sentence that merely shares a rare word ("the US
    capital" for "the capital of Australia") is not an answer."""
    by_score = 1.0 / (1.0 + math.exp(-config.scale * (best.score - config.threshold)))
    by_meaning = 1.0 / (1.0 + math.exp(-config.scale * (best.dense - config.min_dense)))
    return min(by_score, by_meaning)


def answer(
    index: Index, question: str, query_vector: np.ndarray, k: int = 10, config: QAConfig = QAConfig()
) -> Answer:
    """Answer ``question`` from ``index`` given its embedding ``query_vector``."""
    question = check_question(question)
    if k < 1:
        raise QuestionError(f"k must be at least 1 (got {k})")
    ranked = rank_rows(index, question, query_vector, config.retrieval)
    hits = tuple(Hit(index.passage(row), score) for row, score in ranked[:k])
    scored = score_sentences(index, question, query_vector, ranked, config)
    if not scored:
        return Answer(question, None, (), hits, 0.0)
    conf = confidence(scored[0], config)
    if conf < 0.5:
        return Answer(question, None, (), hits, conf)
    citations = tuple(make_citations(index, scored, config))
    return Answer(question, short_answer(question, citations[0]), citations, hits, conf, sentence=citations[0].text)
