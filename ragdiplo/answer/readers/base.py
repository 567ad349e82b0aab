"""The ``Reader`` protocol (``read_nbest``: scored spans with their offsets and a no-answer score) and ``ReaderSpan``.

A reader reads a few short contexts for a question and gives, for each, its
best spans: their text, their offsets into the context, their score and the
context's "no answer" score, the way Haystack's ``ExtractiveReader`` returns
answers that carry their offsets and scores "no answer" as an answer of its
own. The shipped reader (``shipped.py``), ``TransformersReader``
(``transformers.py``) and a user's own model (``QA(..., reader=...)``) all
implement it, and the pipeline treats them alike: it ranks their spans by
margin over "no answer" and the sentence holding them, and decides with
``ReaderCalibration``. That calibration was fitted for the shipped reader's
scores; another reader's scores are on another scale, so refit it
(``benchmarks/calibrate_reader.py``) before trusting its probabilities.

Whatever a reader returns is trusted only once it is found in the context it
was given (``locate``): a generated answer that is not in the text is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ReaderSpan:
    """A span a reader found in one context: its text, its score, its offsets
    into that context (a reader that does not know them leaves them ``None``
    and the text is looked for instead), and the context's "no answer" score,
    SQuAD 2.0 style, as the shipped reader gives it. A reader that cannot score
    "no answer" leaves ``no_answer`` as ``None``: its margin is then its score."""

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
    """What the pipeline asks of every reader, the shipped one included."""

    def read_nbest(self, question: str, contexts: Sequence[str], n: int) -> list[list[ReaderSpan]]:
        """For each of ``contexts``, in order, up to ``n`` distinct spans, best
        first, each with its offsets into that context and the context's
        no-answer score; an empty list for a context the reader found nothing
        in."""
        ...


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


__all__ = ["Reader", "ReaderSpan", "locate"]
