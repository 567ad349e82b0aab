"""Answering a question: retrieve → score sentences → read → decide → cite, each once.

1. retrieve: the passages (``retrieval.py``);
2. score sentences: the sentences of the top passages (``rules.py``);
3. read: a reader (any ``readers.Reader``: the shipped one, a
   ``TransformersReader`` or the user's own, all through ``read_nbest``) reads
   the best sentences with their neighbours (``contexts.py``);
4. decide: its spans are ranked by margin over "no answer" and the sentence
   holding them, and whether to answer at all is a calibrated probability over
   that margin and the retrieval evidence (``ReaderCalibration``, fitted for
   the shipped reader's scores: refit it for another reader);
5. cite: the span's sentence is the first citation, other documents where the
   reader finds the same words are cited after it, documents that say
   something else are listed as differing reports (``conflicts.py``), and each
   citation carries its document's metadata (``metadata.py``).

Without a reader (``QAConfig(reader=None)``), or when none of the reader's
spans stands in the text it read, the sentence rules of ``rules.py`` pick and
cite the answer and their own calibration decides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ragdiplo.answer.candidates import Candidate, SentenceEvidence, gather, proposals, words
from ragdiplo.answer.confidence import probability
from ragdiplo.answer.conflicts import prefer_latest, reports
from ragdiplo.answer.contexts import sentence_contexts, whole_quotes
from ragdiplo.answer.decision import confidence, rank
from ragdiplo.answer.metadata import with_metadata
from ragdiplo.answer.question import Question
from ragdiplo.answer.readers import Reader
from ragdiplo.answer.retrieval import rank_rows
from ragdiplo.answer.rules import (
    ScoredSentence,
    corroborating,
    evidence_features,
    make_citations,
    names_unknown,
    score_sentences,
    short_answer,
)
from ragdiplo.answer.settings import QAConfig
from ragdiplo.errors import QuestionError
from ragdiplo.index.build import Index
from ragdiplo.types import Answer, Citation, Hit, Where


def answer(
    index: Index,
    question: str | Question,
    query_vector: np.ndarray,
    k: int = 10,
    config: QAConfig = QAConfig(),
    reader: Reader | None = None,
    where: Where | None = None,
) -> Answer:
    """Answer ``question`` from ``index`` given its embedding ``query_vector``,
    with the span a ``reader`` picks when one is given, drawing only on the
    documents ``where`` lets through; every citation carries its document's
    title, date and source. ``question`` is analysed once here (``Question``)
    and every stage below takes that value."""
    question = Question.of(question)
    if k < 1:
        raise QuestionError(f"k must be at least 1 (got {k})")
    return with_metadata(index, _answer(index, question, query_vector, k, config, reader, where))


def _answer(
    index: Index,
    question: Question,
    query_vector: np.ndarray,
    k: int,
    config: QAConfig,
    reader: Reader | None,
    where: Where | None,
) -> Answer:
    ranked = rank_rows(index, question, query_vector, config.retrieval, where)
    hits = tuple(Hit(index.passage(row), score) for row, score in ranked[:k])
    if not ranked:
        reason = f"no document matches the filter ({where.describe()})" if where else "nothing retrieved"
        return Answer(question.text, None, (), hits, 0.0, withheld=reason)
    result = None
    if reader is not None:
        best = read_best(index, question, query_vector, ranked, reader, config)
        if best is not None:
            result = _read(index, question, best, hits, config)
    scored = None
    if result is None:  # no reader, or none of its spans stands in the text it read
        scored = score_sentences(index, question, query_vector, ranked, config)
        result = _rules(index, question, scored, hits, config)
    if result.text is not None:
        return result
    reason = result.withheld or "no answer"
    if where:
        reason = f"no passage of the documents the filter lets through ({where.describe()}) answers: {reason}"
    if scored is None:  # read_best scored them for the reader
        scored = score_sentences(index, question, query_vector, ranked, config)
    return replace(result, withheld=reason, closest=closest_sentences(index, scored, config))


def closest_sentences(index: Index, scored: list[ScoredSentence], config: QAConfig) -> tuple[Citation, ...]:
    """The best-scored sentence of each of the first ``config.closest_passages``
    documents among the read passages, best first: what a withheld answer
    shows, none of which answers the question."""
    if not config.closest_passages:
        return ()
    out: list[Citation] = []
    seen: set[int] = set()
    for item in scored:
        doc_row = int(index.sentence_rows[item.row, 0])
        if doc_row in seen:
            continue
        seen.add(doc_row)
        doc, s, e = index.sentence(item.row)
        out.append(Citation(doc.id, s, e, doc.text[s:e], item.score))
        if len(out) == config.closest_passages:
            break
    return tuple(out)


def _rules(
    index: Index, question: Question, scored: list[ScoredSentence], hits: tuple[Hit, ...], config: QAConfig
) -> Answer:
    """The sentence rules' answer: a typed span of the best sentence, or the
    sentence, with the rules' own calibrated confidence."""
    if not scored:
        return Answer(question.text, None, (), hits, 0.0, withheld="no sentence to read")
    conf = probability(evidence_features(index, question, scored), config.calibration)
    # A sentence that merely shares a rare word ("the US capital" for "the
    # capital of Australia") is no answer, however the other evidence looks.
    if scored[0].dense < config.min_dense:
        return Answer(question.text, None, (), hits, conf, withheld="no sentence close enough to the question")
    if conf < config.calibration.threshold:
        return Answer(question.text, None, (), hits, conf, withheld=_below(conf, config.calibration.threshold))
    citations = tuple(make_citations(index, scored, config))
    text = short_answer(question, citations[0], config)
    if text != citations[0].text:
        citations = tuple(corroborating(index, scored, list(citations), text, config))
    return Answer(question.text, text, citations, hits, conf, sentence=citations[0].text)


def _below(conf: float, threshold: float) -> str:
    return f"confidence {conf:.2f} below {threshold:.2f}"


@dataclass(frozen=True)
class ReaderEvidence:
    """The reader's candidates, ranked, and the best one's citation."""

    found: tuple[Candidate, ...]  # best first
    citation: Citation  # the sentence(s) holding the best candidate

    @property
    def best(self) -> Candidate:
        return self.found[0]


def read_candidates(
    index: Index,
    question: Question,
    query_vector: np.ndarray,
    ranked: list[tuple[int, float]],
    reader: Reader,
    config: QAConfig,
) -> tuple[list[ScoredSentence], list[Candidate]]:
    """The sentences of the top passages as the rules score them, best first,
    and the reader's candidates (unranked) over the contexts around the
    ``config.reader_sentences`` best of them, ``config.reader_spans`` spans a
    context, one per span of a document however many contexts found it."""
    scored = score_sentences(index, question, query_vector, ranked, config)
    contexts = sentence_contexts(index, [item.row for item in scored[: config.reader_sentences]])
    texts = [index.documents[c.doc_row].text[c.start : c.end] for c in contexts]
    nbest = reader.read_nbest(question.text, texts, config.reader_spans)
    where = [(c.doc_row, c.start, c.end, c.rank) for c in contexts]
    found = proposals(where, texts, nbest, [d.text for d in index.documents], whole_quotes)
    sentences = {item.row: SentenceEvidence(item.score, item.dense, item.lexical) for item in scored}
    return scored, gather(index, question, query_vector, found, sentences, names_unknown(index, question))


def read_best(
    index: Index,
    question: str | Question,
    query_vector: np.ndarray,
    ranked: list[tuple[int, float]],
    reader: Reader,
    config: QAConfig,
) -> ReaderEvidence | None:
    """The reader's candidates over the top ``config.read_passages`` passages,
    ranked by the decision (``decision.rank``), or ``None`` when none stands in
    the text it read (the rules then answer). A question asking for the latest
    news takes the newest dated document's candidate among close ones."""
    question = Question.of(question)
    _, found = read_candidates(index, question, query_vector, ranked, reader, config)
    if not found:
        return None
    ordered = rank(found, config.reader_sentence_weight, config.decision)
    if question.latest:
        ordered = prefer_latest(index, ordered, config.recency_margin)
    best = ordered[0]
    return ReaderEvidence(tuple(ordered), _sentence_citation(index, best.doc_row, best.start, best.end, best.margin))


def _read(index: Index, question: Question, read: ReaderEvidence, hits: tuple[Hit, ...], config: QAConfig) -> Answer:
    """The best candidate, cited by the sentence holding it, when the decision
    is confident enough; other documents where the reader finds the same words
    cited after it. A yes/no question is answered by that sentence, not a
    span of it (no "Zelensky" for "Has Trump committed to ...?")."""
    best = read.best
    conf, threshold = confidence(best, config.reader_calibration, config.decision)
    if conf < threshold:
        return Answer(question.text, None, (), hits, conf, withheld=_below(conf, threshold))
    text = index.documents[best.doc_row].text[best.start : best.end]
    if question.yes_no:
        text = read.citation.text
    citations = [read.citation]
    for other in read.found[1:]:
        doc = index.documents[other.doc_row]
        seen = {c.doc_id for c in citations} | cited_ids(citations)
        if len(citations) == config.max_citations:
            break
        if other.margin > 0 and doc.id not in seen and words(doc.text[other.start : other.end]) == words(text):
            citations.append(_sentence_citation(index, other.doc_row, other.start, other.end, other.margin))
    differ = reports(index, read.found, config.conflict_margin, read.citation,
                     lambda row, s, e, score: _sentence_citation(index, row, s, e, score))  # fmt: skip
    return Answer(question.text, text, tuple(citations), hits, conf, sentence=read.citation.text, conflicts=differ)


def cited_ids(citations: list[Citation]) -> set[str]:
    return {d for c in citations for d, _, _ in c.duplicates}


def _sentence_citation(index: Index, doc_row: int, s: int, e: int, score: float) -> Citation:
    """The sentence(s) of document ``doc_row`` holding its characters ``s:e``."""
    first = index.sentence_at(doc_row, s)
    last = max(first, index.sentence_at(doc_row, e - 1))
    doc, start, _ = index.sentence(first)
    end = int(index.sentence_rows[last, 2])
    aliases = tuple((i, start, end) for i in index.aliases(doc.id))
    return Citation(doc.id, start, end, doc.text[start:end], score, aliases)


__all__ = ["ReaderEvidence", "answer", "closest_sentences", "read_best", "read_candidates"]
