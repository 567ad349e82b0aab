"""Candidates by document offsets, merged across contexts, and the decision
that picks among them."""

from __future__ import annotations

import math

import pytest
from conftest import FakeEmbedder
from hypothesis import given
from hypothesis import strategies as st

from ragdiplo.answer.candidates import FEATURES, Candidate, Proposal, merge, proposals
from ragdiplo.answer.confidence import ReaderCalibration
from ragdiplo.answer.contexts import whole_quotes
from ragdiplo.answer.decision import Decision, probability, rank
from ragdiplo.answer.question import asks_yes_no
from ragdiplo.answer.readers import ReaderSpan
from ragdiplo.answer.settings import QAConfig
from ragdiplo.errors import ConfigError
from ragdiplo.qa import QA

ALWAYS = ReaderCalibration(threshold=0.0)  # every answer given: these tests are about its shape
TEXT = "Starmer asked for a US “backstop” to a reassurance force. Trump said boots on the ground were out."


def span(text: str, context: str, margin: float) -> ReaderSpan:
    s = context.index(text)
    return ReaderSpan(text, margin, s, s + len(text), no_answer=0.0)


def test_a_span_read_in_two_overlapping_contexts_is_one_candidate():
    first, second = (0, 0, 60, 0), (0, 20, len(TEXT), 1)  # overlapping stretches of document 0
    texts = [TEXT[0:60], TEXT[20:]]
    nbest = [[span("“backstop”", texts[0], 2.0)], [span("“backstop”", texts[1], 1.0)]]
    found = proposals([first, second], texts, nbest, [TEXT])
    assert {(p.start, p.end) for p in found} == {(TEXT.index("“backstop”"), TEXT.index("“backstop”") + 10)}
    merged = merge(found)
    assert len(merged) == 1
    proposal, copies = merged[0]
    assert copies == 2
    assert proposal.margin == pytest.approx(math.log(math.exp(2.0) + math.exp(1.0)))  # combined, not raced
    assert proposal.rank == 0


def test_a_sentence_read_in_several_contexts_answers_with_the_span_its_merged_scores_rank_first():
    # "boots" is proposed by two contexts at margin 3; "the ground" once at 3.5:
    # raced, "the ground" would win; merged, the span both contexts find does.
    boots = TEXT.index("boots on the ground")
    found = [
        Proposal(0, boots, boots + 19, 3.0, 0, 0),
        Proposal(0, boots, boots + 19, 3.0, 1, 1),
        Proposal(0, boots + 9, boots + 19, 3.5, 0, 0),
    ]
    candidates = [Candidate(p.doc_row, p.start, p.end, p.margin, n, p.rank, (p.margin,) + (0.0,) * (len(FEATURES) - 1))
                  for p, n in merge(found)]  # fmt: skip
    best = rank(candidates, 0.0, Decision(bias=0.0, weights=(("margin", 1.0),), threshold=0.5))[0]
    assert TEXT[best.start : best.end] == "boots on the ground"
    assert best.copies == 2
    assert probability(best.score) > 0.9


def test_a_quote_delimited_answer_keeps_its_quote():
    context = TEXT
    nbest = [[span("a US", context, 1.0)]]
    (found,) = proposals([(0, 0, len(TEXT), 0)], [context], nbest, [TEXT], whole_quotes)
    assert TEXT[found.start : found.end] == "a US “backstop”"


def test_a_span_that_does_not_stand_in_its_context_is_dropped():
    nbest = [[ReaderSpan("Zelensky", 5.0, no_answer=0.0)]]
    assert proposals([(0, 0, len(TEXT), 0)], [TEXT], nbest, [TEXT]) == []


@given(st.integers(0, 60), st.integers(1, 30), st.integers(0, 40))
def test_proposal_offsets_are_offsets_into_the_document(context_start, length, at):
    context = TEXT[context_start:]
    at = min(at, max(0, len(context) - 1))
    text = context[at : at + length]
    if not text.strip():
        return
    nbest = [[ReaderSpan(text, 1.0, at, at + len(text), 0.0)]]
    (found,) = proposals([(0, context_start, len(TEXT), 0)], [context], nbest, [TEXT])
    assert TEXT[found.start : found.end] == text


def test_the_decision_refuses_unknown_features_and_nonsense():
    with pytest.raises(ConfigError, match="unknown features"):
        Decision(0.0, (("shoe_size", 1.0),), 0.5)
    with pytest.raises(ConfigError, match="finite"):
        Decision(math.nan, (), 0.5)
    with pytest.raises(ConfigError, match="probability"):
        Decision(0.0, (), 1.5)


def test_the_decision_ranks_by_its_log_odds():
    def candidate(start: int, margin: float, rank: float) -> Candidate:
        features = dict.fromkeys(FEATURES, 0.0) | {"margin": margin, "rank": rank}
        return Candidate(0, start, start + 1, margin, 1, 0, tuple(features[f] for f in FEATURES))

    decision = Decision(bias=-1.0, weights=(("margin", 0.5), ("rank", 2.0)), threshold=0.5)
    ranked = rank([candidate(0, 4.0, 0.0), candidate(5, 1.0, 1.0)], 0.0, decision)
    assert [c.start for c in ranked] == [5, 0]  # a first-ranked passage outweighs 3 points of margin here
    assert ranked[0].score == pytest.approx(-1.0 + 0.5 * 1.0 + 2.0 * 1.0)
    assert ranked[1].score == pytest.approx(-1.0 + 0.5 * 4.0)


@pytest.mark.parametrize("question", ["Did the union agree to end the rail strike in Kessel?",
                                      "Has the mayor of Port Vesta signed the harbour deal?"])  # fmt: skip
def test_a_yes_no_question_is_answered_by_its_evidence_sentence_not_a_span(tiny_corpus, question):
    qa = QA.build(tiny_corpus, embedder=FakeEmbedder(), config=QAConfig(reader_calibration=ALWAYS))
    answer = qa.ask(question)
    cited = answer.citations[0]
    doc = qa.index.document(cited.doc_id)
    assert answer.text == cited.text == doc.text[cited.start : cited.end]  # the whole sentence, nothing invented
    assert answer.text is not None and answer.text.rstrip().endswith(".")


def test_a_question_asking_for_something_keeps_its_span(tiny_corpus):
    qa = QA.build(tiny_corpus, embedder=FakeEmbedder(), config=QAConfig(reader_calibration=ALWAYS))
    answer = qa.ask("How long will the dredging work take?")
    assert answer.text is not None and answer.text != answer.citations[0].text and "18 months" in answer.text


@pytest.mark.parametrize(("question", "expected"), [
    ("Has Trump committed to security guarantees?", True),
    ("Does the UK plan a reassurance force?", True),
    ("Isn't the truce over?", True),
    ("What backstop did Starmer ask for?", False),
    ("Did the article say who leads?", False),  # asks for a name
    ("Is it Paris or London?", False),  # asks to choose
])  # fmt: skip
def test_asks_yes_no(question, expected):
    assert asks_yes_no(question) is expected
