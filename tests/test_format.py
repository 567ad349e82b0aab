"""How answers and passages are laid out: wrapped between words at any width (a
file name is never split), and text from documents escaped so a terminal never
obeys it, while ragdiplo's own colour codes still colour."""

from __future__ import annotations

import pytest

from ragdiplo.cli.format import (
    BOLD,
    DIM,
    HIGHLIGHT,
    RESET,
    Style,
    citation_place,
    clean,
    columns,
    fill,
    format_answer,
    format_passages,
    marked,
    preview,
    wrap_marked,
)
from ragdiplo.types import Answer, Citation, Hit, Passage, Report

SENTENCE = "Officials said the dredging work will take 18 months to finish, after a long delay in the port."
LONG_NAME = "a very long folder name/another-extremely-long-file-name-for-testing.txt"  # over 40 columns, with spaces
TITLE, SOURCE, DATE = "Long Title of the Harbour Story in Port Vesta", "Port Vesta Herald", "2025-02-27"
NASTY = "The mayor \x1b[0msigned\x1b[1m a harbour deal\x07 on \x1b]0;owned\x07Tuesday\u202e in Port Vesta."


def _answer(text: str = SENTENCE, title: str | None = TITLE, doc: str = "000_3bc946d849058282.txt") -> Answer:
    first = Citation(doc, 1738, 1738 + len(text), text, 0.9, title=title, source=SOURCE, date=DATE)
    other = Citation(LONG_NAME, 5, 5 + len(text), text, 0.5, duplicates=(("x y.txt", 1, 2),))
    report = Report("18 months", first, DATE, SOURCE)
    return Answer("How long?", "18 months", (first, other), confidence=0.87, conflicts=(report, report))


def _own_codes_removed(text: str) -> str:
    for code in (HIGHLIGHT, BOLD, DIM, RESET):
        text = text.replace(code, "")
    return text


def _check_wrapped(narrow: str, wide: str, width: int, unbroken: tuple[str, ...] = ()) -> None:
    """Wrapping at ``width`` only moved line breaks: every word is whole, and a line
    is over the width only when it holds one word or one of ``unbroken`` (a file name) alone."""
    assert narrow.split() == wide.split()
    words = set(wide.split())
    for line in narrow.splitlines():
        assert all(word in words for word in line.split()), line
        assert columns(line) <= width or len(line.split()) == 1 or line.strip() in unbroken, line


@pytest.mark.parametrize("color", [False, True], ids=["plain", "colour"])
def test_an_answer_at_width_40_wraps_between_words_and_keeps_file_names_whole(color):
    narrow = format_answer(_answer(), style=Style(color=color, width=40))
    wide = format_answer(_answer(), style=Style(color=color, width=10_000))
    _check_wrapped(_own_codes_removed(narrow), _own_codes_removed(wide), 40, (LONG_NAME + ":5-100",))
    plain = _own_codes_removed(narrow)
    sources = [SENTENCE, TITLE, f"— {SOURCE}, {DATE}", "(000_3bc946d849058282.txt:1738-1833)", LONG_NAME + ":5-100",
               "Answer: 18 months", "Confidence: 0.87", "[1] [2]", "also at x y.txt:1-2", "Reports differ (newest first):",
               "- 2025-02-27, Port Vesta Herald: 18 months"]  # fmt: skip
    whole = {word for source in sources for word in source.split()}
    assert {w.strip("«»") for w in plain.split()} <= whole  # every word of the output is a whole word of the data
    lines = plain.splitlines()
    assert "    (000_3bc946d849058282.txt:1738-1833)" in lines  # the span of a long header moves whole to a line
    assert f"    {LONG_NAME}:5-100" in lines  # longer than the line: whole, on its own line
    assert "    also at x y.txt:1-2" in lines  # a space inside a file name is no place to break


def test_a_withheld_answer_and_its_closest_passages_wrap_at_width_40():
    cited = _answer().citations[0]
    withheld = Answer("Q?", None, confidence=0.1, withheld="confidence 0.10 below 0.50", closest=(cited,))
    narrow, wide = (format_answer(withheld, style=Style(width=w)) for w in (40, 10_000))
    _check_wrapped(narrow, wide, 40)
    assert narrow.startswith("Answer: (withheld: confidence 0.10 below\n    0.50)")


def test_citation_place_escapes_every_part():
    c = Citation("a\u202eb.txt", 0, 5, "hello", 1.0, title="Deal\x1b[0m", source="Herald\x07", date="2025\t02")
    assert citation_place(c) == "Deal\\x1b[0m — Herald\\x07, 2025 02 (a\\u202eb.txt:0-5)"


@pytest.mark.parametrize("color", [False, True], ids=["plain", "colour"])
def test_control_characters_from_documents_are_escaped_wherever_they_are_printed(color):
    title, source = "Deal \x1b[0msigned\x07", "Herald\x1b[2m"
    cited = Citation("vesta\u202etxt.txt", 0, len(NASTY), NASTY, 0.9, title=title, source=source, date=DATE,
                     duplicates=(("dup\u2028.txt", 0, 5),))  # fmt: skip
    report = Report("signed\x1b[1m", cited, DATE, source)
    answered = Answer("Who?", "The mayor \x1b[0msigned", (cited,), confidence=0.9, conflicts=(report,))
    withheld = Answer("Who?", None, confidence=0.1, withheld="no document from 'Herald\x1b[2m'", closest=(cited,))
    hits = [Hit(Passage("vesta\u202etxt.txt", 0, len(NASTY), NASTY, title=title, source=source, date=DATE), 0.5)]
    style = Style(color=color, width=40)
    for shown in (format_answer(answered, style=style), format_answer(withheld, style=style),
                  format_passages(hits, style)):  # fmt: skip
        rest = _own_codes_removed(shown)
        assert "\x1b" not in rest and "\x07" not in rest and "\u202e" not in rest and "\u2028" not in rest
        assert "\\x1b[0m" in rest and "\\x07" in rest and "\\u202e" in rest
        assert (DIM in shown) is color  # ragdiplo's own codes still colour a terminal
    assert "\\u2028" in format_answer(answered, style=style)  # a document id is shown exactly
    if color:
        assert f"{HIGHLIGHT}The mayor \\x1b[0msigned{RESET}" in format_answer(answered, style=Style(True, 200))


def test_highlight_markers_in_a_document_cannot_start_a_highlight():
    text = "A harbour \ue000deal\ue001 was signed."
    cited = Citation("a.txt", 0, len(text), text, 0.9)
    shown = format_answer(Answer("Q?", "signed", (cited,), confidence=0.9), style=Style(color=True, width=80))
    assert shown.count(HIGHLIGHT) == 1 and "\\ue000deal\\ue001" in shown


def test_clean_is_idempotent_and_keeps_line_breaks_when_asked():
    raw = "a\r\nb\tc\x1b[0m\u2028d\x85e\ue000"
    assert clean(raw) == "a  b c\\x1b[0m d e\\ue000"
    assert clean(clean(raw)) == clean(raw)
    assert clean("one\r\ntwo", lines=True) == "one \ntwo"


def test_fill_breaks_only_between_words_and_counts_wide_characters_twice():
    assert fill("aaa bbb ccc", 7) == "aaa bbb\nccc"
    assert fill("tiny  gap kept", 9, "", "> ") == "tiny  gap\n> kept"
    assert fill("x " + "y" * 20 + " z", 10, "", "  ") == "x\n  " + "y" * 20 + "\n  z"
    assert fill("", 10, "Answer: ") == "Answer:"
    text = "東京の港 大阪の港 名古屋の港"  # 8, 8 and 10 columns
    lines = fill(text, 17).splitlines()
    assert lines == ["東京の港 大阪の港", "名古屋の港"] and all(columns(line) <= 17 for line in lines)
    assert columns("e\u0301") == 1  # a combining accent takes no column


def test_wrap_marked_keeps_blank_lines_and_paints_the_span():
    text = marked("First paragraph.\n\nSecond ", "quoted span", " ends\x07 here.")
    shown = wrap_marked(text, Style(width=20), ("»", "«"))
    assert shown == "First paragraph.\n\nSecond »quoted span«\nends\\x07 here."


def test_passages_list_span_score_and_a_preview_cut_between_words():
    text = "word " * 60
    hits = [Hit(Passage("a.txt", 0, len(text), text, source="Herald", date=DATE), 0.25)]
    shown = format_passages(hits, Style(width=80)).splitlines()
    assert shown[0] == "[1] a.txt:0-300  score 0.2500  (Herald, 2025-02-27)"
    assert " ".join(line.strip() for line in shown[1:]).endswith("word word…")
    assert preview("alpha beta gamma", 12) == "alpha beta…" and preview("alphabetagamma delta", 5) == "alphabetagamma…"
