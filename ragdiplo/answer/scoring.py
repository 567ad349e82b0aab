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
import warnings
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from ragdiplo.answer.confidence import Calibration, ReaderCalibration, mismatched
from ragdiplo.answer.extract import best_span, ranked_spans
from ragdiplo.answer.question import AnswerType, Question
from ragdiplo.answer.reader import Reader, locate
from ragdiplo.answer.retrieval import RetrievalConfig
from ragdiplo.errors import ConfigError
from ragdiplo.index.build import Index
from ragdiplo.stores.bm25 import terms
from ragdiplo.types import Citation

READERS = ("shipped",)


@dataclass(frozen=True)
class QAConfig:
    """Every setting of answering, range-checked (``ConfigError`` on nonsense).

    Sentence score (rules, and the reader's span ranking): a sentence of the
    top ``read_passages`` passages scores ``w_dense`` × its similarity to the
    question + ``w_lexical`` × its share of the question's rare words (words
    only in the sentence before it count ``context_weight``) + ``w_type`` if it
    holds the kind of answer asked for + ``w_rank`` / its passage's rank.

    Rules: no answer when the best sentence's similarity is below
    ``min_dense`` or ``calibration`` gives P(right) below its threshold;
    citations are sentences within ``cite_margin`` of the best (at most
    ``max_citations``), and sentences of other documents within
    ``corroborate_margin`` that give the same short answer; ``short_answers``
    cuts a typed span from the sentence unless a name question's sentence
    holds more than ``max_name_candidates`` names.

    Reader: it reads the ``reader_sentences`` best sentences with their
    neighbours, gives ``reader_spans`` spans per context, and ranks them by
    margin over "no answer" + ``reader_sentence_weight`` × the holding
    sentence's score; ``reader_calibration`` decides whether to answer.
    Another document's span within ``conflict_margin`` of the answer's that
    says something else is a conflicting report (0 never). When the question
    asks for the latest news, the newest dated document's span within
    ``recency_margin`` of the best is the answer (0 never).

    A withheld answer lists the ``closest_passages`` sentences closest to the
    question, one per document (0 none), so the user sees what was found.

    ``retrieval``: how passages are ranked; ``reader``: ``"shipped"`` or
    ``None`` for the sentence rules.
    """

    read_passages: int = 5
    w_dense: float = 1.0
    w_lexical: float = 0.7
    w_type: float = 0.3
    w_rank: float = 0.1
    context_weight: float = 0.5
    min_dense: float = 0.25
    max_citations: int = 3
    cite_margin: float = 0.05
    corroborate_margin: float = 0.4
    short_answers: bool = True
    max_name_candidates: int = 2
    calibration: Calibration = Calibration()
    retrieval: RetrievalConfig = RetrievalConfig()
    reader: str | None = "shipped"
    reader_calibration: ReaderCalibration = ReaderCalibration()
    reader_sentences: int = 4
    reader_spans: int = 5
    reader_sentence_weight: float = 10.0
    conflict_margin: float = 2.0
    recency_margin: float = 2.0
    closest_passages: int = 3

    def __post_init__(self) -> None:
        if self.reader is not None and self.reader not in READERS:
            raise ConfigError(
                f"reader must be one of {READERS} or None for the sentence rules (got {self.reader!r}); "
                "pass your own model to QA(reader=...)"
            )
        at_least_one = ("read_passages", "max_citations", "max_name_candidates", "reader_sentences", "reader_spans")
        for name in at_least_one:
            if not getattr(self, name) >= 1:
                raise ConfigError(f"{name} must be at least 1 (got {getattr(self, name)})")
        at_least_zero = ("w_dense", "w_lexical", "w_type", "w_rank", "context_weight", "cite_margin",
                         "corroborate_margin", "reader_sentence_weight", "conflict_margin", "recency_margin")  # fmt: skip
        for name in at_least_zero:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number, 0 or more (got {value!r})")
        if not (isinstance(self.closest_passages, int) and self.closest_passages >= 0):
            raise ConfigError(f"closest_passages must be a whole number, 0 or more (got {self.closest_passages!r})")
        if not -1.0 <= self.min_dense <= 1.0:
            raise ConfigError(f"min_dense is a cosine similarity between -1 and 1 (got {self.min_dense})")
        calibration = self.calibration if self.reader is None else self.reader_calibration
        differ = mismatched(calibration, {f.name: getattr(self, f.name) for f in fields(self)})
        if differ:
            warnings.warn(
                f"the confidence was calibrated with other settings ({', '.join(differ)}); its probabilities "
                "and threshold may not hold: refit it (benchmarks/calibrate*.py) or pass a calibration fitted "
                "with these settings", CalibrationWarning, stacklevel=3)  # fmt: skip


class CalibrationWarning(UserWarning):
    """Scoring settings differ from those the confidence was calibrated with."""


@dataclass(frozen=True)
class ScoredSentence:
    row: int
    score: float
    dense: float
    lexical: float
    typed: bool


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
    index: Index, question: Question, query_vector: np.ndarray, ranked: list[tuple[int, float]], config: QAConfig
) -> list[ScoredSentence]:
    kind = question.kind
    weights = {t: index.bm25.idf(t) for t in question.asked}
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
        typed = kind is not AnswerType.OTHER and best_span(question, text) is not None
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
    with the other places it stands recorded as duplicates (among them the
    same words under the other ids of an identical document)."""
    groups: list[tuple[ScoredSentence, frozenset[str], list[tuple[str, int, int]]]] = []
    for item in scored:
        doc, s, e = index.sentence(item.row)
        key = _key(doc.text[s:e])
        for _, gkey, dups in groups:
            if _similar(key, gkey):
                dups.extend((i, s, e) for i in (doc.id, *index.aliases(doc.id)))
                break
        else:
            groups.append((item, key, [(i, s, e) for i in index.aliases(doc.id)]))
    best = scored[0].score
    citations: list[Citation] = []
    for item, _, dups in groups:
        if len(citations) == config.max_citations or (citations and item.score < best - config.cite_margin):
            break
        doc, s, e = index.sentence(item.row)
        citations.append(Citation(doc.id, s, e, doc.text[s:e], item.score, tuple(dups)))
    return citations


_NAME_KINDS = frozenset({AnswerType.PERSON, AnswerType.PLACE, AnswerType.NAME})


def corroborating(
    index: Index, scored: list[ScoredSentence], citations: list[Citation], text: str, config: QAConfig
) -> list[Citation]:
    """Other read sentences that state the same short answer, from documents not
    cited yet: news repeats a fact across articles, and a reader checking "2027"
    should see each article that gives it, not only the best-scored one. A
    sentence that merely shares the words ("Thursday") but scores far below the
    best is about something else and is not cited."""
    if len(citations) >= config.max_citations:
        return citations
    needle = _words(text)
    cited_docs = {c.doc_id for c in citations} | {d for c in citations for d, _, _ in c.duplicates}
    out = list(citations)
    floor = scored[0].score - config.corroborate_margin
    for item in scored[1:]:
        if item.score < floor:
            break
        doc, s, e = index.sentence(item.row)
        if doc.id in cited_docs or needle not in _words(doc.text[s:e]):
            continue
        out.append(Citation(doc.id, s, e, doc.text[s:e], item.score, tuple((i, s, e) for i in index.aliases(doc.id))))
        cited_docs.add(doc.id)
        if len(out) == config.max_citations:
            break
    return out


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


def short_answer(question: Question, citation: Citation, config: QAConfig = QAConfig()) -> str:
    """A typed span of the cited sentence, or the whole sentence when there is
    none, or when a name question's sentence holds more candidate names than
    ``config.max_name_candidates``: choosing among many capitalised words by
    their distance to the question's words is a guess, and the sentence is
    right where a guessed name would be wrong."""
    kind = question.kind
    if not config.short_answers or kind is AnswerType.OTHER:
        return citation.text
    spans = ranked_spans(question, citation.text)
    if not spans or (kind in _NAME_KINDS and len(spans) > config.max_name_candidates):
        return citation.text
    return citation.text[spans[0][0] : spans[0][1]]


def evidence_features(index: Index, question: Question, scored: list[ScoredSentence]) -> np.ndarray:
    """What speaks for the best sentence: its combined score, its plain semantic
    similarity, its coverage of the question's rare words, whether a typed
    question found no span of its type in it, whether the question names
    something the corpus never mentions ("Germany" in a corpus without it), and
    its lead over the runner-up; in ``Calibration.FEATURES`` order."""
    best = scored[0]
    runner_up = scored[1].score if len(scored) > 1 else 0.0
    named = {
        "score": best.score,
        "dense": best.dense,
        "lexical": best.lexical,
        "type_missing": float(question.kind is not AnswerType.OTHER and not best.typed),
        "unknown_name": float(names_unknown(index, question)),
        "margin": best.score - runner_up,
    }
    return np.array([named[name] for name in Calibration.FEATURES])


def names_unknown(index: Index, question: Question) -> bool:
    """Whether the question names something the corpus never mentions."""
    return any(not all(t in index.bm25 for t in name) for name in question.names)


def read_answer(
    index: Index, question: Question, ranked: list[tuple[int, float]], reader: Reader, config: QAConfig
) -> tuple[str, Citation] | None | Literal[False]:
    """The reader's best span over the top passages, located in its passage and
    cited by the sentences it stands in. ``False`` when the reader found no
    answer in any passage; ``None`` when none of what it returned stands in the
    text it was given, so the extracted answer is kept."""
    rows = [row for row, _ in ranked[: config.read_passages]]
    passages = [index.passage(row) for row in rows]
    spans = reader.read(question.text, [p.text for p in passages])
    if all(span is None for span in spans):
        return False
    located = [
        (span.score, row, passage, at)
        for span, row, passage in zip(spans, rows, passages)
        if span is not None and (at := locate(span, passage.text)) is not None
    ]
    if not located:
        return None
    score, row, passage, (s, e) = max(located, key=lambda x: x[0])
    doc_row = int(index.passage_rows[row, 0])
    first = index.sentence_at(doc_row, passage.start + s)
    last = max(first, index.sentence_at(doc_row, passage.start + e - 1))
    doc, start, _ = index.sentence(first)
    end = int(index.sentence_rows[last, 2])
    text = doc.text[passage.start + s : passage.start + e]
    aliases = tuple((i, start, end) for i in index.aliases(doc.id))
    return text, Citation(doc.id, start, end, doc.text[start:end], score, aliases)
