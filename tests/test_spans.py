"""Short-answer extraction: question types and the candidate spans that fit them."""

import pytest

from ragdiplo.answer.question import AnswerType, Question, answer_type
from ragdiplo.answer.spans import best_span

SENTENCE = "Starmer said this week that spending would reach 3% by 2035, speaking on Thursday, 28 Jul 2025."


def _answer(question: str, sentence: str = SENTENCE) -> str | None:
    span = best_span(Question.of(question), sentence)
    return None if span is None else sentence[span[0] : span[1]]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who is Britain's ambassador?", AnswerType.PERSON),
        ("By which year will spending reach 3%?", AnswerType.DATE),
        ("How many troops will go?", AnswerType.NUMBER),
        ("What percentage of GDP?", AnswerType.PERCENT),
        ("How long is the truce?", AnswerType.DURATION),
        ("Why did he go?", AnswerType.OTHER),
        ("Which television network did Witkoff appear on?", AnswerType.NAME),
        ("Which broadcaster did Starmer speak to?", AnswerType.NAME),
        ("What is the name of the European diplomat who said it?", AnswerType.PERSON),
        ("Which European leader spoke first?", AnswerType.PERSON),
        ("What did the general say?", AnswerType.OTHER),
    ],
)
def test_answer_types(question, kind):
    assert answer_type(question) is kind


def test_a_year_question_is_answered_by_a_year_not_a_nearer_date():
    assert _answer("By which year will spending reach 3%?") == "2035"


def test_a_weekday_question_is_answered_by_a_span_naming_the_day():
    assert "Thursday" in _answer("On which day of the week did Starmer speak?")


def test_abbreviated_months_are_dates():
    assert "28 Jul 2025" in _answer("On what date was the photo taken?", "The photo was taken in Aberdeen (28 Jul 2025).")


def test_a_year_question_without_a_year_in_the_sentence_has_no_span():
    assert _answer("In what year was it signed?", "It was signed this week, on Thursday.") is None


def test_a_name_in_apposition_to_the_question_s_words_wins_over_a_nearer_possessor():
    sentence = "Trump’s special envoy, Steve Witkoff, indicated that talks would go on."
    assert _answer("Who is the US special envoy?", sentence) == "Steve Witkoff"
