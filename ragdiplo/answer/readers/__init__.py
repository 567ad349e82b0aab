"""Readers: an optional model that picks the answer span inside retrieved text.

No extractive QA model ships its weights in a package, so the default answers
without one (``spans.py``). A user who has such a model on disk, or a small
generative model, plugs it in here. Whatever a reader returns is trusted only
once it is found in the text it was given: a generated answer that is not a
span of its context is dropped and the extracted answer stands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ReaderSpan:
    """An answer a reader found in one context: the text and, when the reader
    knows them, its offsets into that context. A reader that scores "no
    answer" too (SQuAD 2.0 style, like the shipped one) gives that score as
    ``no_answer``; the span stands only when ``score`` beats it."""

    text: str
    score: float
    start: int | None = None
    end: int | None = None
    no_answer: float | None = None

    @property
    def margin(self) -> float:
        """How far the span's score beats "no answer" (``score`` when the reader
        gives no such score)."""
        return self.score - (self.no_answer if self.no_answer is not None else 0.0)


@runtime_checkable
class Reader(Protocol):
    """Reads each context for the question; ``None`` where it finds no answer."""

    def read(self, question: str, contexts: Sequence[str]) -> list[ReaderSpan | None]: ...


def locate(span: ReaderSpan, context: str) -> tuple[int, int] | None:
    """Offsets of ``span`` in ``context``: its own when they hold its text, else
    the first match ignoring case and runs of white space; ``None`` when the
    text does not stand in the context at all."""
    if span.start is not None and span.end is not None and context[span.start : span.end] == span.text:
        return (span.start, span.end) if span.text.strip() else None
    words = span.text.split()
    if not words:
        return None
    match = re.search(r"\s+".join(map(re.escape, words)), context, re.IGNORECASE)
    return match.span() if match else None
