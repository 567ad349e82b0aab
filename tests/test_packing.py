"""Packing texts into fixed rows: every text once, whole, at an even start, within the width."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragdiplo.embed.packing import ALIGN, pack


@given(st.integers(8, 300).flatmap(lambda w: st.tuples(st.just(w), st.lists(st.integers(1, w), max_size=300))))
def test_every_text_is_placed_once_whole_and_apart(case):
    width, lengths = case
    rows = pack(lengths, width)
    placed = sorted(i for row in rows for i, _ in row)
    assert placed == list(range(len(lengths)))
    for row in rows:
        spans = sorted((at, at + lengths[i]) for i, at in row)
        assert all(at % ALIGN == 0 for at, _ in spans)
        assert spans[-1][1] <= width
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans))
    assert pack(lengths, width) == rows  # the lengths alone decide
    # a new row opens only when no row has room: at most one is half empty, so at most twice the rows needed
    need = sum(min(-(-n // ALIGN) * ALIGN, width) for n in lengths)
    assert len(rows) <= max(1, 2 * -(-need // width)) if lengths else rows == []


def test_seeds_like_lengths_fill_rows_almost_completely():
    lengths = [200] * 30 + [30, 18, 44, 52, 26, 9, 61, 35, 22, 40] * 17
    rows = pack(lengths, 256)
    assert len(rows) * 256 <= 1.03 * sum(-(-n // ALIGN) * ALIGN for n in lengths)


@pytest.mark.parametrize("bad", [0, 257, -1])
def test_a_length_outside_the_row_is_refused(bad):
    with pytest.raises(ValueError, match="rows hold 1 to 256"):
        pack([5, bad], 256)
