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
from typing import Literal

import numpy as np

from ragdiplo.answer.extract import AnswerType, answer_type, best_span, named_words, ranked_spans
from ragdiplo.answer.reader import Reader, locate
from ragdiplo.answer.retrieval import RetrievalConfig
from ragdiplo.errors import ConfigError, QuestionError
from ragdiplo.index.build import Index
from ragdiplo.stores.bm25 import terms
from ragdiplo.types import Citation

MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class Calibration:
    """Logistic weights of P(answer right) over :func:`evidence_features`, and
    the threshold below which the answer is withheld.

    The defaults come from ``python benchmarks/calibrate.py`` on the seeds dev
    and extra gold sets plus the SQuAD dev-open slice; re-fit them for a corpus
    of another kind with the same script.
    """

    bias: float = 0.8902
    score: float = -0.2756
    dense: float = -0.9059
    lexical: float = 0.0673
    type_missing: float = -1.3185
    unknown_name: float = -3.6191
    margin: float = 5.0549
    threshold: float = 0.43

    @property
    def weights(self) -> np.ndarray:
        return np.array([self.score, self.dense, self.lexical, self.type_missing, self.unknown_name, self.margin])


@dataclass(frozen=True)
class ReaderCalibration:
    """Logistic weights of P(answer right) over the reader's evidence
    (``answering.READER_FEATURES``: margin, rank, dense, unknown_name) and the
    threshold below which its answer is withheld.

    Fitted by ``python benchmarks/calibrate_reader.py`` on development gold
    sets (the seeds dev and extra sets and SQuAD dev-open; never the held-out
    set); refit them for a corpus of another kind with the same script.
    """

    bias: float = -2.9318
    margin: float = 0.2811
    rank: float = 2.4979
    dense: float = -1.5182
    unknown_name: float = 0.5429
    threshold: float = 0.24

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is a probability between 0 and 1 (got {self.threshold})")

    @property
    def weights(self) -> np.ndarray:
        return np.array([self.margin, self.rank, self.dense, self.unknown_name])


READERS = ("shipped",)


@dataclass(frozen=True)
class QAConfig:
    """Weights of the sentence score, and the gates and model that decide
    whether to answer at all."""

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
    reader_sentences: int = 4  # best-scored sentences the reader reads, each with its neighbours
    reader_spans: int = 5  # candidate spans the reader gives per context
    reader_sentence_weight: float = 10.0  # weight of the holding sentence's score when ranking them
    # another document's span that scores within this much of the answer's (margin plus weighted sentence
    # score) and answers differently makes the reports conflict (``answer.conflicts``); 0 never fires
    conflict_margin: float = 2.0

    def __post_init__(self) -> None:
        if self.reader is not None and self.reader not in READERS:
            raise ConfigError(
                f"reader must be one of {READERS} or None for the sentence rules (got {self.reader!r}); "
                "pass your own model to QA(reader=...)"
            )
        if self.read_passages < 1:
            raise ConfigError(f"read_passages must be at least 1 (got {self.read_passages})")
        if self.reader_sentences < 1 or self.reader_spans < 1 or self.reader_sentence_weight < 0:
            raise ConfigError(
                f"reader_sentences and reader_spans must be at least 1 and reader_sentence_weight at least 0 "
                f"(got {self.reader_sentences}, {self.reader_spans}, {self.reader_sentence_weight})"
            )
        if self.max_citations < 1:
            raise ConfigError(f"max_citations must be at least 1 (got {self.max_citations})")
        if not self.conflict_margin >= 0:
            raise ConfigError(f"conflict_margin must be at least 0 (got {self.conflict_margin})")


@dataclass(frozen=True)
class ScoredSentence:
    row: int
    score: float
    dense: float
    lexical: float
    typed: bool


def check_question(question: str) -> str:
    """The question stripped of outer space; a non-string is a programming error
    (``TypeError``), an unusable string a user's (``QuestionError``)."""
    if not isinstance(question, str):
        raise TypeError(f"the question must be a str, not {type(question).__name__}")
    if not question.strip():
        raise QuestionError("the question is empty; ask something, e.g. 'What backstop did Starmer ask for?'")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}")
    if not re.search(r"\w", question):
        raise QuestionError("the question has no words in it")
    if re.search("[\ud800-\udfff]", question):
        raise QuestionError("the question holds undecodable bytes (lone surrogates); pass it as valid UTF-8 text")
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


def short_answer(question: str, citation: Citation, config: QAConfig = QAConfig()) -> str:
    """A typed span of the cited sentence, or the whole sentence when there is
    none, or when a name question's sentence holds more candidate names than
    ``config.max_name_candidates``: choosing among many capitalised words by
    their distance to the question's words is a guess, and the sentence is
    right where a guessed name would be wrong."""
    kind = answer_type(question)
    if not config.short_answers or kind is AnswerType.OTHER:
        return citation.text
    spans = ranked_spans(question, citation.text, kind)
    if not spans or (kind in _NAME_KINDS and len(spans) > config.max_name_candidates):
        return citation.text
    return citation.text[spans[0][0] : spans[0][1]]


def evidence_features(index: Index, question: str, scored: list[ScoredSentence]) -> np.ndarray:
    """What speaks for the best sentence: its combined score, its plain semantic
    similarity, its coverage of the question's rare words, whether a typed
    question found no span of its type in it, whether the question names
    something the corpus never mentions ("Germany" in a corpus without it), and
    its lead over the runner-up."""
    best = scored[0]
    runner_up = scored[1].score if len(scored) > 1 else 0.0
    kind = answer_type(question)
    type_missing = kind is not AnswerType.OTHER and not best.typed
    unknown_name = any(not all(t in index.bm25 for t in terms(w)) for w in named_words(question))
    return np.array(
        [best.score, best.dense, best.lexical, float(type_missing), float(unknown_name), best.score - runner_up]
    )


def confidence(features: np.ndarray, calibration: Calibration) -> float:
    """Probability that the answer resting on these features is right."""
    z = calibration.bias + float(features @ calibration.weights)
    return 1.0 / (1.0 + math.exp(-z))


def read_answer(
    index: Index, question: str, ranked: list[tuple[int, float]], reader: Reader, config: QAConfig
) -> tuple[str, Citation] | None | Literal[False]:
    """The reader's best span over the top passages, located in its passage and
    cited by the sentences it stands in. ``False`` when the reader found no
    answer in any passage; ``None`` when none of what it returned stands in the
    text it was given, so the extracted answer is kept."""
    rows = [row for row, _ in ranked[: config.read_passages]]
    passages = [index.passage(row) for row in rows]
    spans = reader.read(question, [p.text for p in passages])
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
