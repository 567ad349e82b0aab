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

from ragdiplo.answer.confidence import ReaderCalibration, probability
from ragdiplo.answer.conflicts import Candidate, prefer_latest, reports, words
from ragdiplo.answer.contexts import sentence_contexts, whole_quotes
from ragdiplo.answer.metadata import with_metadata
from ragdiplo.answer.question import Question
from ragdiplo.answer.readers import Reader, locate
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
from ragdiplo.stores.bm25 import terms
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
    """The reader's best span over the read contexts and what speaks for it."""

    doc_row: int
    start: int  # the span's offsets into the document text
    end: int
    citation: Citation  # the sentence(s) holding the span
    features: np.ndarray  # in READER_FEATURES order
    found: tuple[Candidate, ...]  # (score, margin, rank, doc_row, start, end) of every context's span, best first


def read_best(
    index: Index,
    question: str | Question,
    query_vector: np.ndarray,
    ranked: list[tuple[int, float]],
    reader: Reader,
    config: QAConfig,
) -> ReaderEvidence | None:
    """The reader's best span over the top ``config.read_passages`` passages,
    or ``None`` when it found nothing that stands in the text it read (the
    rules then answer).

    Each context gives its ``config.reader_spans`` best spans; a span's rank is
    its margin over "no answer" plus ``config.reader_sentence_weight`` times
    the sentence score of the sentence holding it (``rules.score_sentences``:
    similarity, rare words, answer type): the reader knows which words answer,
    the sentence score which sentence is about the question."""
    question = Question.of(question)
    scored = score_sentences(index, question, query_vector, ranked, config)
    contexts = sentence_contexts(index, [item.row for item in scored[: config.reader_sentences]])
    texts = [index.documents[c.doc_row].text[c.start : c.end] for c in contexts]
    nbest = reader.read_nbest(question.text, texts, config.reader_spans)
    sentence_score = {item.row: item.score for item in scored}
    floor = min(sentence_score.values(), default=0.0)
    found: list[Candidate] = []
    for c, text, spans in zip(contexts, texts, nbest):
        for span in spans:
            at = locate(span, text)
            if at is None:
                continue
            s, e = whole_quotes(index.documents[c.doc_row].text, c.start + at[0], c.start + at[1])
            support = sentence_score.get(index.sentence_at(c.doc_row, s), floor)
            found.append((span.margin + config.reader_sentence_weight * support, span.margin, c.rank, c.doc_row, s, e))
    if not found:
        return None
    found.sort(key=lambda f: (-f[0], f[2]))
    if question.latest:
        found = prefer_latest(index, found, config.recency_margin)
    _, margin, rank, doc_row, s, e = found[0]
    cited, dense = _sentence_citation(index, doc_row, s, e, query_vector, margin)
    features = reader_features(index, question, margin, rank, dense, names_missing(index, question, doc_row, s, e))
    return ReaderEvidence(doc_row, s, e, cited, features, tuple(found))


def _read(index: Index, question: Question, best: ReaderEvidence, hits: tuple[Hit, ...], config: QAConfig) -> Answer:
    """The reader's answer, cited by the sentence holding it, with a calibrated
    confidence; other documents where the reader finds the same words cited
    after it."""
    conf = probability(best.features, config.reader_calibration)
    if conf < config.reader_calibration.threshold:
        return Answer(question.text, None, (), hits, conf, withheld=_below(conf, config.reader_calibration.threshold))
    text = index.documents[best.doc_row].text[best.start : best.end]
    citations = [best.citation]
    for _, margin, _, doc_row, s, e in best.found[1:]:
        doc = index.documents[doc_row]
        seen = {c.doc_id for c in citations} | cited_ids(citations)
        if len(citations) == config.max_citations:
            break
        if margin > 0 and doc.id not in seen and words(doc.text[s:e]) == words(text):
            citations.append(_sentence_citation(index, doc_row, s, e, None, margin)[0])
    differ = reports(index, best.found, config.conflict_margin, best.citation,
                     lambda row, s, e, score: _sentence_citation(index, row, s, e, None, score)[0])  # fmt: skip
    return Answer(question.text, text, tuple(citations), hits, conf, sentence=best.citation.text, conflicts=differ)


def cited_ids(citations: list[Citation]) -> set[str]:
    return {d for c in citations for d, _, _ in c.duplicates}


def _sentence_citation(
    index: Index, doc_row: int, s: int, e: int, query_vector: np.ndarray | None, score: float
) -> tuple[Citation, float]:
    """The sentence(s) of document ``doc_row`` holding its characters ``s:e``,
    and the best of their similarities to the question (0 without a vector)."""
    first = index.sentence_at(doc_row, s)
    last = max(first, index.sentence_at(doc_row, e - 1))
    doc, start, _ = index.sentence(first)
    end = int(index.sentence_rows[last, 2])
    dense = 0.0
    if query_vector is not None:
        dense = float(np.max(np.asarray(index.sentence_vectors[first : last + 1]) @ query_vector.reshape(-1)))
    aliases = tuple((i, start, end) for i in index.aliases(doc.id))
    return Citation(doc.id, start, end, doc.text[start:end], score, aliases), dense


READER_FEATURES = ReaderCalibration.FEATURES


def reader_features(
    index: Index, question: Question, margin: float, rank: int, dense: float, missing: float = 0.0
) -> np.ndarray:
    """What speaks for the reader's answer, in ``READER_FEATURES`` order: how far
    its span beats "no answer", how high its passage ranked (1 for the first,
    1/2 for the second...), how close its sentence is to the question,
    whether the question names something the corpus never mentions, and the
    share of the question's names its sentence and their neighbours leave out
    (``names_missing``: "the US ambassador to France" over a sentence on
    Britain's ambassador to the US)."""
    named = {"margin": margin, "rank": 1.0 / (rank + 1), "dense": dense,
             "unknown_name": float(names_unknown(index, question)), "names_missing": missing}  # fmt: skip
    return np.array([named[name] for name in ReaderCalibration.FEATURES])


def names_missing(index: Index, question: Question, doc_row: int, s: int, e: int) -> float:
    """Share of the question's names (``Question.names``) not all of whose
    terms stand in the sentence(s) holding ``s:e`` of document ``doc_row`` or
    the sentence on either side; 0 when the question names nothing."""
    if not question.names:
        return 0.0
    first = index.sentence_at(doc_row, s)
    last = max(first, index.sentence_at(doc_row, max(s, e - 1)))
    if first > 0 and int(index.sentence_rows[first - 1, 0]) == doc_row:
        first -= 1
    if last + 1 < len(index.sentence_rows) and int(index.sentence_rows[last + 1, 0]) == doc_row:
        last += 1
    text = index.documents[doc_row].text[int(index.sentence_rows[first, 1]) : int(index.sentence_rows[last, 2])]
    present = set(terms(text))
    return sum(not all(t in present for t in name) for name in question.names) / len(question.names)


__all__ = ["READER_FEATURES", "ReaderEvidence", "answer", "closest_sentences", "names_missing", "read_best", "reader_features"]
