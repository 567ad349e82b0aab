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

from dataclasses import replace

import numpy as np

from ragdiplo.answer.candidates import Candidate, read_candidates, words
from ragdiplo.answer.conflicts import reports, superseded_reports, typed_reports
from ragdiplo.answer.decision import confidence, decide
from ragdiplo.answer.metadata import with_metadata
from ragdiplo.answer.question import Question
from ragdiplo.answer.readers import Reader
from ragdiplo.answer.retrieval import rank_rows
from ragdiplo.answer.rules import ScoredSentence, answer_by_rules, below, score_sentences
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
    result = _answer(index, question, query_vector, k, config, reader, where)
    return with_metadata(index, result)


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
    scored = score_sentences(index, question, query_vector, ranked, config)  # once, for the reader and the rules
    found: list[Candidate] = []
    if reader is not None:  # its candidates around the best sentences, ranked by the decision
        found = read_candidates(index, question, query_vector, reader, scored, config.reader_sentences, config.reader_spans)
        found = decide(index, question, found, config.reader_sentence_weight, config.recency_margin, config.decision)
    # without a reader, or when none of its spans stands in the text it read, the sentence rules answer
    result = _read(index, question, found, hits, config) if found else answer_by_rules(index, question, scored, hits, config)
    if result.text is not None:
        return result
    reason = result.withheld or "no answer"
    if where:
        reason = f"no passage of the documents the filter lets through ({where.describe()}) answers: {reason}"
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


def _read(
    index: Index, question: Question, found: list[Candidate], hits: tuple[Hit, ...], config: QAConfig
) -> Answer:
    """The best of the ranked candidates ``found``, cited by the sentence
    holding it, when the decision is confident enough; other documents where
    the reader finds the same words cited after it. A yes/no question is
    answered by that sentence, not a span of it (no "Zelensky" for "Has Trump
    committed to ...?"). When dated documents give different values of the
    kind asked for, the newest report's value answers and the older ones are
    listed as superseded (``conflicts.typed_reports``)."""
    best = found[0]
    conf, threshold = confidence(best, config.reader_calibration, config.decision)
    if conf < threshold:
        return Answer(question.text, None, (), hits, conf, withheld=below(conf, threshold))

    def cite(row: int, s: int, e: int, score: float) -> Citation:
        return sentence_citation(index, row, s, e, score)

    def supported(c: Candidate) -> bool:  # the decision would give it on its own
        return confidence(c, config.reader_calibration, config.decision)[0] >= threshold

    typed = typed_reports(index, question, found, supported, config.typed_conflict_margin)
    if typed:
        best = typed[0][0]
        conf = confidence(best, config.reader_calibration, config.decision)[0]
        found = [best, *(c for c in found if c is not best)]
    cited = cite(best.doc_row, best.start, best.end, best.margin)
    text = index.documents[best.doc_row].text[best.start : best.end]
    if question.yes_no:
        text = cited.text
    citations = [cited]
    for other in found[1:]:
        doc = index.documents[other.doc_row]
        seen = {c.doc_id for c in citations} | cited_ids(citations)
        if len(citations) == config.max_citations:
            break
        if other.margin > 0 and doc.id not in seen and words(doc.text[other.start : other.end]) == words(text):
            citations.append(sentence_citation(index, other.doc_row, other.start, other.end, other.margin))
    if typed:
        differ = superseded_reports(index, question, typed, cite)
    else:
        differ = reports(index, found, config.conflict_margin, cited, cite)
    return Answer(question.text, text, tuple(citations), hits, conf, sentence=cited.text, conflicts=differ)


def cited_ids(citations: list[Citation]) -> set[str]:
    return {d for c in citations for d, _, _ in c.duplicates}


def sentence_citation(index: Index, doc_row: int, s: int, e: int, score: float) -> Citation:
    """The sentence(s) of document ``doc_row`` holding its characters ``s:e``."""
    first = index.sentence_at(doc_row, s)
    last = max(first, index.sentence_at(doc_row, e - 1))
    doc, start, _ = index.sentence(first)
    end = int(index.sentence_rows[last, 2])
    aliases = tuple((i, start, end) for i in index.aliases(doc.id))
    return Citation(doc.id, start, end, doc.text[start:end], score, aliases)


__all__ = ["answer", "closest_sentences", "sentence_citation"]
