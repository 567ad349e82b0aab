"""The sentence rules: retrieved passages → scored sentences → a short, cited answer.

Every sentence inside the top passages is scored by its similarity to the
question (the embedder's vectors, computed at index time), by how much of the
question's rarer vocabulary it holds, by whether it contains the kind of answer
the question asks for, and by the rank of its passage. The reader reads the
best of them; without a reader (``QAConfig(reader=None)``) the best sentence is
the citation and the answer is a typed span of it (``spans.py``) or the
sentence itself. ``evidence_features`` is what the rules' confidence weighs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ragdiplo.answer.candidates import names_unknown
from ragdiplo.answer.confidence import Calibration, probability
from ragdiplo.answer.question import AnswerType, Question
from ragdiplo.answer.settings import QAConfig
from ragdiplo.answer.spans import best_span, ranked_spans
from ragdiplo.index.build import Index
from ragdiplo.stores.bm25 import terms
from ragdiplo.types import Answer, Citation, Hit


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


def _similar(a: frozenset[str], b: frozenset[str], jaccard: float) -> bool:
    return bool(a) and len(a & b) / len(a | b) >= jaccard


def make_citations(index: Index, scored: list[ScoredSentence], config: QAConfig) -> list[Citation]:
    """The best sentence and close runners-up, each repeated quote cited once
    with the other places it stands recorded as duplicates (among them the
    same words under the other ids of an identical document); sentences whose
    terms overlap by ``config.citation_jaccard`` are one quote."""
    groups: list[tuple[ScoredSentence, frozenset[str], list[tuple[str, int, int]]]] = []
    for item in scored:
        doc, s, e = index.sentence(item.row)
        key = _key(doc.text[s:e])
        for _, gkey, dups in groups:
            if _similar(key, gkey, config.citation_jaccard):
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


def answer_by_rules(
    index: Index, question: Question, scored: list[ScoredSentence], hits: tuple[Hit, ...], config: QAConfig
) -> Answer:
    """The sentence rules' answer (without a reader): a typed span of the best
    sentence, or the sentence, with the rules' own calibrated confidence."""
    if not scored:
        return Answer(question.text, None, (), hits, 0.0, withheld="no sentence to read")
    features = evidence_features(index, question, scored)
    conf = probability(features, config.calibration)
    # A sentence that merely shares a rare word ("the US capital" for "the
    # capital of Australia") is no answer, however the other evidence looks.
    if scored[0].dense < config.min_dense:
        return Answer(question.text, None, (), hits, conf, withheld="no sentence close enough to the question")
    if conf < config.calibration.threshold:
        return Answer(question.text, None, (), hits, conf, withheld=below(conf, config.calibration.threshold))
    citations = tuple(make_citations(index, scored, config))
    text = short_answer(question, citations[0], config)
    if text != citations[0].text:
        citations = tuple(corroborating(index, scored, list(citations), text, config))
    return Answer(question.text, text, citations, hits, conf, sentence=citations[0].text)


def below(conf: float, threshold: float) -> str:
    """Why an answer is withheld: its confidence is below the threshold."""
    return f"confidence {conf:.2f} below {threshold:.2f}"
