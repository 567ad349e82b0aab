"""How an answer is printed by ``ragdiplo ask`` and the REPL.

The short answer is shown inside the sentence it was taken from, so the reader
sees its evidence at once: in bold colour on a terminal, between « » when the
output is piped or ``NO_COLOR`` is set. Lines are wrapped at word boundaries to
the terminal's width. A withheld answer says why, so the confidence printed
never seems to contradict the decision, and lists the sentences closest to the
question, none of which answers it. When documents answer differently,
one line per report follows, newest first.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ragdiplo.types import Answer, Citation, Report

DEFAULT_WIDTH = 80  # when the output is not a terminal
MIN_WIDTH = 40  # narrower than this, wrapping hurts more than it helps
INDENT = "    "
# private-use characters mark the highlight while wrapping, so the markers count
# as one column each and never collide with the text's own characters
MARK_OPEN, MARK_CLOSE = _OPEN, _CLOSE = "\ue000", "\ue001"
BOLD, HIGHLIGHT, DIM, RESET = "\x1b[1m", "\x1b[1;33m", "\x1b[2m", "\x1b[0m"
PLAIN_MARKS = ("«", "»")


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


def withheld_reason(answer: Answer, threshold: float | None = None) -> str:
    """Why ``answer`` gives no text: the reason it carries when the answerer
    recorded one, else what its confidence says against ``threshold``."""
    reason = getattr(answer, "withheld", None)  # set by answerers that record why
    if isinstance(reason, str) and reason:
        return reason
    if threshold is None:
        from ragdiplo.answer.scoring import Calibration

        threshold = Calibration().threshold
    if answer.confidence < threshold:
        return f"confidence {answer.confidence:.2f} below {threshold:.2f}"
    return "no sentence close enough to the question"


def _paint(text: str, style: Style, plain: tuple[str, str] = PLAIN_MARKS) -> str:
    """Turn the highlight sentinels into ANSI codes or plain markers."""
    if style.color:
        return text.replace(_OPEN, HIGHLIGHT).replace(_CLOSE, RESET)
    return text.replace(_OPEN, plain[0]).replace(_CLOSE, plain[1])


def wrap_marked(text: str, style: Style, plain: tuple[str, str] = PLAIN_MARKS) -> str:
    """Each line of ``text`` wrapped at word boundaries (blank lines kept), then the
    span between ``MARK_OPEN`` and ``MARK_CLOSE`` painted: colour, or ``plain``."""
    lines = [textwrap.fill(line, width=style.width, break_long_words=False, break_on_hyphens=False)
             for line in text.split("\n")]
    return _paint("\n".join(lines), style, plain)


def _wrap(text: str, style: Style, first: str, rest: str) -> str:
    """``text`` as one paragraph (its own line breaks become spaces), wrapped at
    word boundaries; words longer than a line are left whole."""
    flat = " ".join(text.split())
    lines = textwrap.wrap(flat, width=style.width, initial_indent=first, subsequent_indent=rest,
                          break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines) if lines else first.rstrip()


def _marked(citation: Citation, answer_text: str | None) -> str:
    """The citation's text with the short answer inside it marked, when it is there."""
    text = citation.text
    if not answer_text or answer_text == text:
        return text
    at = text.find(answer_text)
    if at < 0:
        return text
    return text[:at] + _OPEN + answer_text + _CLOSE + text[at + len(answer_text) :]


def citation_place(citation: Citation, title: Callable[[str], str | None] | None = None) -> str:
    """Document title (its id when it has none), its source and date when known,
    and the character span cited: ``Title — Source, 2025-02-27 (doc.txt:10-80)``."""
    name = (title(citation.doc_id) if title is not None else None) or citation.title
    span = f"{citation.doc_id}:{citation.start}-{citation.end}"
    about = ", ".join(x for x in (citation.source, citation.date) if x)
    name = f"{name} — {about}" if name and about else name or about
    return f"{name} ({span})" if name else span


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
        lines = [_paint(_wrap(f"(withheld: {withheld_reason(answer, threshold)})", style, "Answer: ", INDENT), style)]
        if answer.closest:
            lines.append("Closest passages (none of them answers the question):")
        for i, c in enumerate(answer.closest, 1):
            where = f"[{i}] {citation_place(c, title)}"
            lines.append(f"{DIM}{where}{RESET}" if style.color else where)
            lines.append(_wrap(c.text, style, INDENT, INDENT))
        return "\n".join(lines)
    sentence_answer = bool(answer.citations) and answer.text == answer.citations[0].text
    head = _wrap(answer.text, style, "Answer: ", INDENT)
    lines = [f"{BOLD}{head}{RESET}" if style.color else head, f"Confidence: {answer.confidence:.2f}"]
    for i, c in enumerate(answer.citations, 1):
        where = f"[{i}] {citation_place(c, title)}"
        lines.append(f"{DIM}{where}{RESET}" if style.color else where)
        if not (i == 1 and sentence_answer):  # a sentence answer is printed once, as the answer
            lines.append(_paint(_wrap(_marked(c, answer.text), style, INDENT, INDENT), style))
        lines.extend(f"{INDENT}also at {d}:{s}-{e}" for d, s, e in c.duplicates)
    if answer.conflicts:
        lines.append("Reports differ (newest first):")
        lines.extend(_wrap(report_line(r), style, INDENT + "- ", INDENT + "  ") for r in answer.conflicts)
    return "\n".join(lines)


def report_line(report: Report) -> str:
    """One report as ``2025-08-19, Source: answer (doc.txt:10-80)``; "undated" when it has no date."""
    c = report.citation
    when = ", ".join(x for x in (report.date or "undated", report.source) if x)
    return f"{when}: {report.text} ({c.doc_id}:{c.start}-{c.end})"
