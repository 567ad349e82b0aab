"""A question is analysed once into a frozen value every stage takes; the
settings and calibrations that score it are named, range-checked and say
what they were fitted with."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import ragdiplo.answer.question as question_module
from ragdiplo.answer.confidence import Calibration, ReaderCalibration, probability
from ragdiplo.answer.question import AnswerType, Question, asks_for_latest
from ragdiplo.answer.settings import CalibrationWarning, QAConfig
from ragdiplo.errors import ConfigError, QuestionError
from ragdiplo.qa import QA


def test_a_question_is_analysed_into_one_frozen_value():
    q = Question.of("  By which year will Germany send the NATO-style force?  ")
    assert q.text == "By which year will Germany send the NATO-style force?"
    assert q.kind is AnswerType.DATE and q.date_part is not None and q.date_part.search("in 2027")
    assert q.names == (("germani",), ("nato",)) and "forc" in q.terms and not q.latest
    assert Question.of(q) is q
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.text = "other"  # type: ignore[misc]
    with pytest.raises(QuestionError):
        Question.of("   ")


@pytest.mark.parametrize(("text", "latest"), [
    ("What is the latest on the truce?", True), ("Who is now in charge?", True), ("What is the current plan?", True),
    ("What did they most recently agree?", True), ("Who knows the plan?", False), ("When did it snow?", False),
])
def test_time_words(text, latest):
    assert asks_for_latest(text) is latest


@pytest.mark.parametrize("reader", ["shipped", None])
def test_each_ask_analyses_its_question_once(tiny_corpus, fake_embedder, monkeypatch, reader):
    qa = QA.build(tiny_corpus, embedder=fake_embedder, config=QAConfig(reader=reader))
    calls = []
    real = question_module.answer_type
    monkeypatch.setattr(question_module, "answer_type", lambda text: calls.append(text) or real(text))
    answer = qa.ask("How long will the dredging work take?")
    assert calls == ["How long will the dredging work take?"] and answer.text is not None


def test_calibrations_name_their_features_and_build_from_names():
    assert Calibration().weights.tolist() == [getattr(Calibration(), n) for n in Calibration.FEATURES]
    weights = {"margin": 0.5, "rank": 2.0, "dense": -1.0, "unknown_name": 0.0, "names_missing": -1.5}
    fitted = ReaderCalibration.fitted(-1.0, weights, 0.3, {"reader_spans": 5})
    assert fitted.weights.tolist() == [0.5, 2.0, -1.0, 0.0, -1.5] and fitted.fitted_with == (("reader_spans", 5),)
    assert probability(np.array([0.0, 0.0, 0.0, 0.0, 0.0]), fitted) == pytest.approx(1 / (1 + np.e))
    with pytest.raises(ConfigError, match="a weight for each of"):
        ReaderCalibration.fitted(0.0, {"margin": 1.0}, 0.3, {})
    with pytest.raises(ConfigError, match="threshold"):
        Calibration(threshold=1.5)
    with pytest.raises(ConfigError, match="finite"):
        ReaderCalibration(margin=float("nan"))


def test_settings_other_than_the_calibrations_fit_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QAConfig()
        QAConfig(reader=None, max_citations=1, conflict_margin=0.0)  # not scoring settings: no warning
    with pytest.warns(CalibrationWarning, match=r"reader_sentence_weight=3.0 \(fitted with 10.0\)"):
        QAConfig(reader_sentence_weight=3.0)
    with pytest.warns(CalibrationWarning, match=r"w_dense=2.0 \(fitted with 1.0\)"):
        QAConfig(reader=None, w_dense=2.0)


@pytest.mark.parametrize(("field", "value"), [
    ("w_dense", -1.0), ("w_lexical", float("nan")), ("cite_margin", -0.1), ("max_name_candidates", 0),
    ("read_passages", 0), ("min_dense", 1.5), ("reader_sentence_weight", float("inf")),
])
def test_nonsense_settings_are_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        QAConfig(**{field: value})
