"""How an answer is printed by ``ragdiplo ask`` and the REPL.

The short answer is shown inside the sentence it was taken from, so the reader
sees its evidence at once: in bold colour on a terminal, between « » when the
output is piped or ``NO_COLOR`` is set. A withheld answer says why, so the
confidence printed never seems to contradict the decision, and lists the
sentences closest to the question, none of which answers it. When documents
answer differently, one line per report follows, newest first.

Text from documents (answers, citations, titles, sources, dates, ids) is data:
before it is laid out, every character a terminal would obey (see terminal.py)
is written as an escape, ``\\x1b`` for ESC, so a document's own ``\\x1b[0m`` is
shown and never obeyed while ragdiplo's colour codes still colour. Lines are
wrapped to the terminal's width, measured in columns on the escaped text (a
wide character takes two), and break only between words: a document id, the
file name of a citation, is never split, and one longer than a line stands
whole on a line of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ragdiplo.types import Answer, Citation, Hit, Report

DEFAULT_WIDTH = 80  # when the output is not a terminal
MIN_WIDTH = 40  # narrower than this, wrapping hurts more than it helps
INDENT = "    "
PREVIEW_CHARS = 150  # of a passage listed by the REPL's :passages: two lines at 80 columns
# private-use characters mark the highlight while wrapping, so the markers count
# as one column each; the same characters in data are escaped, so they never collide
MARK_OPEN, MARK_CLOSE = _OPEN, _CLOSE = "\ue000", "\ue001"
_GLUE = "\ue002"  # a space that is no place to break (inside a document id) while wrapping
BOLD, HIGHLIGHT, DIM, RESET = "\x1b[1m", "\x1b[1;33m", "\x1b[2m", "\x1b[0m"
PLAIN_MARKS = ("«", "»")

# C0 but tab and newline, DEL, C1, lone surrogates (undecodable bytes), line and
# paragraph separators, and the bidi marks, embeddings, overrides and isolates
UNSAFE_CHARS = "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_DATA = re.compile(UNSAFE_CHARS[:-1] + "\t\n\ue000-\ue002]")  # the same, tab, newline and the markers above
_DATA_IN_LINES = re.compile(UNSAFE_CHARS[:-1] + "\t\ue000-\ue002]")  # ... but newline
_SPACE, _SPACE_IN_LINE = re.compile(r"\s"), re.compile(r"[^\S\n]")


@dataclass(frozen=True)
class Style:
    """How to print: ANSI colour or plain markers, and the width to wrap at."""

    color: bool = False
    width: int = DEFAULT_WIDTH

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be positive (got {self.width})")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def style_for(stream: Any) -> Style:
    """Colour on a terminal unless ``NO_COLOR`` is set (no-color.org); the
    terminal's width (or ``$COLUMNS``), else 80 columns."""
    tty = _isatty(stream)
    color = tty and not os.environ.get("NO_COLOR")
    width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns if tty or os.environ.get("COLUMNS") else DEFAULT_WIDTH
    return Style(color=color, width=max(MIN_WIDTH, width))


def escape_char(char: str) -> str:
    """One character as a Python escape: ``\\x1b``, ``\\u202e``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_data(text: str) -> str:
    """``text`` from data (a document id) with every unsafe character, tab and
    newline among them, escaped: shown exactly, on one line."""
    return _DATA.sub(lambda m: escape_char(m.group()), text)


def clean(text: str, *, lines: bool = False) -> str:
    """Text from data as it is laid out: white space a plain space (line breaks
    kept with ``lines``), every other unsafe character escaped. Cleaning
    cleaned text changes nothing, so a caller never escapes twice."""
    if lines:
        return _DATA_IN_LINES.sub(lambda m: escape_char(m.group()), _SPACE_IN_LINE.sub(" ", text))
    return escape_data(_SPACE.sub(" ", text))


def columns(text: str) -> int:
    """The terminal columns ``text`` takes: two for a wide (East Asian) character, none for a combining mark."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _words(text: str) -> Iterator[tuple[str, str]]:
    """(the spaces before it, word) for each word of ``text``, split at runs of spaces only."""
    parts = re.split("( +)", text.strip(" "))
    yield from ((gap, word) for gap, word in zip(["", *parts[1::2]], parts[0::2]) if word)


def fill(text: str, width: int, first: str = "", rest: str = "") -> str:
    """``text`` (one line) broken between words into lines of at most ``width``
    columns, the first led by ``first``, the others by ``rest``; the spaces at a
    break are dropped, others kept. A word longer than a line stands whole on a
    line of its own: a terminal may fold it, but no word is ever cut here."""
    lines: list[str] = []
    line, size, bare = first, columns(first), True
    for gap, word in _words(text):
        n = columns(word)
        if bare:
            line, size = line + word, size + n
        elif size + len(gap) + n <= width:
            line, size = line + gap + word, size + len(gap) + n
        else:
            lines.append(line)
            line, size = rest + word, columns(rest) + n
        bare = False
    lines.append(first.rstrip() if bare else line)
    return "\n".join(lines).replace(_GLUE, " ")


def _wrap(text: str, style: Style, first: str = "", rest: str = INDENT) -> str:
    """``text`` (cleaned) as one paragraph, its own line breaks spaces, wrapped between words."""
    return fill(" ".join(text.split()), style.width, first, rest)


def _dim(text: str, style: Style) -> str:
    return f"{DIM}{text}{RESET}" if style.color else text


def withheld_reason(answer: Answer, threshold: float | None = None) -> str:
    """Why ``answer`` gives no text: the reason it carries when the answerer
    recorded one, else what its confidence says against ``threshold``."""
    reason = getattr(answer, "withheld", None)  # set by answerers that record why
    if isinstance(reason, str) and reason:
        return reason
    if threshold is None:
        from ragdiplo.answer.confidence import Calibration

        threshold = Calibration().threshold
    if answer.confidence < threshold:
        return f"confidence {answer.confidence:.2f} below {threshold:.2f}"
    return "no sentence close enough to the question"


def _paint(text: str, style: Style, plain: tuple[str, str] = PLAIN_MARKS) -> str:
    """Turn the highlight sentinels into ANSI codes or plain markers."""
    if style.color:
        return text.replace(_OPEN, HIGHLIGHT).replace(_CLOSE, RESET)
    return text.replace(_OPEN, plain[0]).replace(_CLOSE, plain[1])


def marked(before: str, span: str, after: str) -> str:
    """Text from data with ``span`` marked for :func:`wrap_marked`, each part
    cleaned (line breaks kept) so the marks are the only ones."""
    return clean(before, lines=True) + _OPEN + clean(span, lines=True) + _CLOSE + clean(after, lines=True)


def wrap_marked(text: str, style: Style, plain: tuple[str, str] = PLAIN_MARKS) -> str:
    """Each line of ``text`` (made by :func:`marked`) wrapped between words, blank
    lines kept, then its marked span painted: colour, or ``plain``."""
    lines = [fill(" ".join(line.split()), style.width) for line in text.split("\n")]
    return _paint("\n".join(lines), style, plain)


def _marked(citation: Citation, answer_text: str | None) -> str:
    """The citation's text (cleaned) with the short answer inside it marked, when it is there."""
    text = citation.text
    at = text.find(answer_text) if answer_text and answer_text != text else -1
    if answer_text is None or at < 0:
        return clean(text)
    return marked(text[:at], answer_text, text[at + len(answer_text) :])


def _span(doc_id: str, start: int, end: int) -> str:
    """``doc.txt:10-80``, its id escaped, its spaces glued so a wrap never splits it."""
    return f"{escape_data(doc_id)}:{start}-{end}".replace(" ", _GLUE)


def _place(citation: Citation, title: Callable[[str], str | None] | None) -> str:
    name = (title(citation.doc_id) if title is not None else None) or citation.title
    span = _span(citation.doc_id, citation.start, citation.end)
    about = ", ".join(clean(x) for x in (citation.source, citation.date) if x)
    name = f"{clean(name)} — {about}" if name and about else clean(name or about)
    return f"{name} ({span})" if name else span


def citation_place(citation: Citation, title: Callable[[str], str | None] | None = None) -> str:
    """Document title (its id when it has none), its source and date when known,
    and the character span cited: ``Title — Source, 2025-02-27 (doc.txt:10-80)``,
    every part escaped."""
    return _place(citation, title).replace(_GLUE, " ")


def citation_header(n: int, citation: Citation, title: Callable[[str], str | None] | None, style: Style) -> str:
    """``[n]`` and :func:`citation_place`, wrapped between words (never inside the file name), dim on a terminal."""
    return _dim(fill(f"[{n}] {_place(citation, title)}", style.width, "", INDENT), style)


def format_answer(
    answer: Answer,
    *,
    title: Callable[[str], str | None] | None = None,
    threshold: float | None = None,
    style: Style = Style(),
) -> str:
    """The answer, its confidence or why it was withheld, and its citations.

    ``title(doc_id)`` names a cited document (default: its id); ``threshold`` is
    the confidence needed to answer, used only to explain an answer withheld
    without a recorded reason.
    """
    if answer.text is None:
        lines = [_wrap(clean(f"(withheld: {withheld_reason(answer, threshold)})"), style, "Answer: ")]
        if answer.closest:
            lines.append(_wrap("Closest passages (none of them answers the question):", style))
        for i, c in enumerate(answer.closest, 1):
            lines += [citation_header(i, c, title, style), _wrap(clean(c.text), style, INDENT)]
        return "\n".join(lines)
    sentence_answer = bool(answer.citations) and answer.text == answer.citations[0].text
    head = _wrap(clean(answer.text), style, "Answer: ")
    lines = [f"{BOLD}{head}{RESET}" if style.color else head, f"Confidence: {answer.confidence:.2f}"]
    for i, c in enumerate(answer.citations, 1):
        lines.append(citation_header(i, c, title, style))
        if not (i == 1 and sentence_answer):  # a sentence answer is printed once, as the answer
            lines.append(_paint(_wrap(_marked(c, answer.text), style, INDENT), style))
        lines.extend(_wrap(f"also at {_span(d, s, e)}", style, INDENT, INDENT * 2) for d, s, e in c.duplicates)
    if answer.conflicts:
        lines.append(_wrap("Reports differ (newest first):", style))
        lines.extend(_wrap(_report(r), style, INDENT + "- ", INDENT + "  ") for r in answer.conflicts)
    return "\n".join(lines)


def _report(report: Report) -> str:
    c = report.citation
    when = ", ".join(clean(x) for x in (report.date or "undated", report.source) if x)
    superseded = ", superseded" if report.superseded else ""
    return f"{when}: {clean(report.text)} ({_span(c.doc_id, c.start, c.end)}{superseded})"


def report_line(report: Report) -> str:
    """One report as ``2025-08-19, Source: answer (doc.txt:10-80)``; "undated" when it has no date."""
    return _report(report).replace(_GLUE, " ")


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The start of ``text`` on one line, cut between words with "…" when over ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return clean(flat)
    cut = flat.rfind(" ", 0, limit + 1)
    return clean(flat[:cut] if cut > 0 else flat.split(" ", 1)[0]) + "…"


def format_passages(hits: Iterable[Hit], style: Style) -> str:
    """The passages retrieved, best first: each one's span, score, source and
    date on a line (dim on a terminal), then the start of its text."""
    lines = []
    for i, hit in enumerate(hits, 1):
        p = hit.passage
        about = ", ".join(clean(x) for x in (p.source, p.date) if x)
        head = f"[{i}] {_span(p.doc_id, p.start, p.end)}  score{_GLUE}{hit.score:.4f}" + (f"  ({about})" if about else "")
        lines += [_dim(fill(head, style.width, "", INDENT), style), _wrap(preview(p.text), style, INDENT)]
    return "\n".join(lines)
