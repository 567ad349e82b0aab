"""The shipped reader: windows that never cut an answer, exact offsets, and "no answer"."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragdiplo.answer.readers.shipped import ExtractiveReader, ReaderWindows, best_span, window_starts
from ragdiplo.errors import ConfigError


@given(n=st.integers(1, 2000), size=st.integers(31, 200), answer=st.integers(1, 30), at=st.floats(0, 1))
def test_every_answer_of_the_longest_kind_lies_wholly_inside_some_window(n, size, answer, at):
    answer = min(answer, n)
    first = int(at * (n - answer))
    last = first + answer - 1
    starts = window_starts(n, size, ReaderWindows().stride(size) if size > 30 else size)
    assert starts[0] == 0 and min(starts[-1] + size, n) == n
    assert any(lo <= first and last < lo + size for lo in starts)


@given(st.lists(st.floats(-5, 5), min_size=1, max_size=12), st.data())
def test_best_span_is_the_best_allowed_pair(start, data):
    end = data.draw(st.lists(st.floats(-5, 5), min_size=len(start), max_size=len(start)))
    longest = data.draw(st.integers(1, 5))
    score, i, j = best_span(np.array(start), np.array(end), 0, len(start) - 1, longest)
    brute = max(start[a] + end[b] for a in range(len(start)) for b in range(a, min(len(start), a + longest)))
    assert score == pytest.approx(brute) and i <= j < i + longest


def test_windows_refuse_a_length_that_could_cut_answers():
    with pytest.raises(ConfigError, match="raise max_len"):
        ReaderWindows(max_len=64, max_question_tokens=40, max_answer_tokens=30)


@pytest.fixture(scope="module")
def reader():
    return ExtractiveReader()


SENTENCES = [
    "The bridge over the Arno reopened on Tuesday after eighteen months of repairs.",
    "Mayor Lucia Benedetti said the work cost €14 million.",
    "Residents had crossed the river by ferry since the flood of 2023.",
    "Engineers from Milan reinforced the piers with steel jackets.",
    "Traffic will be limited to buses and bicycles until March.",
]


@pytest.mark.integration
@settings(max_examples=25, deadline=None)
@given(st.permutations(SENTENCES), st.integers(1, 5), st.sampled_from(["  ", "\n\n", " — ", "\u00a0"]))
def test_spans_map_exactly_back_into_their_context(reader, order, count, glue):
    context = "Ünïcode → " + glue.join(order[:count] * 3)
    texts = [context, context[:40]]
    for text, spans in zip(texts, reader.read_nbest("How much did the work cost?", texts, 3)):
        assert spans and len({(s.start, s.end) for s in spans}) == len(spans) <= 3
        assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
        assert len({s.no_answer for s in spans}) == 1 and spans[0].no_answer is not None  # one per context
        for span in spans:
            assert span.start is not None and span.end is not None
            assert text[span.start : span.end] == span.text


@pytest.mark.integration
def test_the_reader_answers_from_a_long_context_and_finds_nothing_in_an_unrelated_one(reader):
    long = " ".join(SENTENCES[:1] + [f"Filler sentence about other matters number {i}." for i in range(40)] + SENTENCES[1:2])
    (cost, *_), (unrelated, *_) = reader.read_nbest(
        "How much did the work cost?", [long, "Preheat the oven and whisk two eggs with sugar."], 1
    )
    assert "14 million" in cost.text and cost.margin > 0
    assert long[cost.start : cost.end] == cost.text
    assert unrelated.margin < 0  # "no answer" wins


@pytest.mark.integration
def test_a_near_miss_question_gets_no_answer(reader):
    ((span,),) = reader.read_nbest("What is the population of Milan?", [" ".join(SENTENCES)], 1)
    assert span.margin < 0


@pytest.mark.integration
def test_a_context_with_no_tokens_gets_no_span(reader):
    assert reader.read_nbest("How much did the work cost?", ["", "   "], 2) == [[], []]
