"""The answer confidence: what each piece of evidence does to it, and that
the abstention threshold is what decides between answering and not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ragdiplo.answer.confidence import Calibration, probability
from ragdiplo.answer.question import Question, named_words
from ragdiplo.answer.retrieval import rank_rows
from ragdiplo.answer.rules import evidence_features, score_sentences
from ragdiplo.answer.settings import QAConfig
from ragdiplo.qa import QA

FEATURES = Calibration.FEATURES


@pytest.fixture
def qa(tiny_corpus, fake_embedder):
    return QA.build(tiny_corpus, embedder=fake_embedder)


def features(qa: QA, question: str) -> dict[str, float]:
    vector = qa.embedder.embed([question])[0]
    analysed = Question.of(question)
    ranked = rank_rows(qa.index, analysed, vector, qa.config.retrieval)
    scored = score_sentences(qa.index, analysed, vector, ranked, qa.config)
    return dict(zip(FEATURES, evidence_features(qa.index, analysed, scored)))


def test_named_words_are_the_capitalised_names_not_question_words():
    assert named_words("How many troops will Germany send?") == ["Germany"]
    assert named_words("What did Ilse Marten sign in Port Vesta?") == ["Ilse", "Marten", "Port", "Vesta"]
    assert named_words("When Did the strike end?") == []


def test_an_opening_word_and_the_lower_case_half_of_a_compound_are_not_names():
    assert named_words("Roughly how much aid did Kyiv get?") == ["Kyiv"]
    assert named_words("What NATO-style safeguard did Moscow accept?") == ["NATO", "Moscow"]
    assert named_words("NATO said what to Kyiv?") == ["NATO", "Kyiv"]


def test_a_name_the_corpus_never_mentions_is_flagged(qa):
    assert features(qa, "How many cranes will the Port Vesta deal pay for?")["unknown_name"] == 0.0
    assert features(qa, "How many cranes will the Germany deal pay for?")["unknown_name"] == 1.0


def test_a_typed_question_without_a_span_of_its_type_is_flagged(qa):
    assert features(qa, "How long will the dredging work take?")["type_missing"] == 0.0
    assert features(qa, "When did the deal pay for dredging the old channel?")["type_missing"] == 1.0
    assert features(qa, "What does the deal pay for?")["type_missing"] == 0.0  # descriptive: nothing to miss


def test_margin_is_the_lead_over_the_runner_up(qa):
    f = features(qa, "How long will the dredging work take?")
    assert f["margin"] >= 0.0 and f["score"] >= f["margin"] - 1.0


def test_confidence_follows_the_sign_of_each_weight():
    calibration = Calibration()
    base = np.array([0.8, 0.5, 0.6, 0.0, 0.0, 0.1])
    for i, name in enumerate(FEATURES):
        raised = base.copy()
        raised[i] += 1.0
        moved = probability(raised, calibration) - probability(base, calibration)
        assert np.sign(moved) == np.sign(getattr(calibration, name)), name
    assert 0.0 < probability(base, calibration) < 1.0


def test_the_threshold_decides_whether_to_answer(qa):
    question = "How long will the dredging work take?"
    answered = QA(qa.index, qa.embedder, QAConfig(min_dense=-1.0, calibration=Calibration(threshold=0.0), reader=None)).ask(question)
    assert answered.text is not None
    strict = dataclasses.replace(Calibration(), threshold=min(1.0, answered.confidence + 1e-6))
    withheld = QA(qa.index, qa.embedder, QAConfig(min_dense=-1.0, calibration=strict, reader=None)).ask(question)
    assert withheld.text is None and withheld.citations == ()
    assert withheld.confidence == pytest.approx(answered.confidence)
