"""Plain data types shared by every stage of the pipeline.

Offsets are always Python ``str`` indices into the original document text,
end exclusive, so ``document.text[start:end] == passage.text`` holds for every
passage and citation the library ever produces.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


def _check_span(start: int, end: int, text: str) -> None:
    if start < 0 or end < start:
        raise ValueError(f"invalid span [{start}, {end})")
    if end - start != len(text):
        raise ValueError(f"span [{start}, {end}) does not match a text of {len(text)} characters")


def _clip(text: str | None, width: int = 60) -> str | None:
    return text if text is None or len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class Document:
    """One source text; ``id`` is its path relative to the corpus root."""

    id: str
    text: str
    title: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Passage:
    """A contiguous span of a document, the unit that is embedded and retrieved."""

    doc_id: str
    start: int
    end: int
    text: str

    def __post_init__(self) -> None:
        _check_span(self.start, self.end, self.text)

    @property
    def id(self) -> str:
        """Deterministic id from content, stable across rebuilds."""
        key = f"{self.doc_id}\x00{self.start}\x00{self.end}\x00{self.text}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused retrieval score (higher is better)."""

    passage: Passage
    score: float

    def to_dict(self) -> dict[str, Any]:
        p = self.passage
        return {"doc": p.doc_id, "start": p.start, "end": p.end, "score": round(self.score, 6)}


@dataclass(frozen=True)
class Citation:
    """An exact source span an answer rests on.

    ``duplicates`` lists other places (doc id, start, end) where the same words
    stand, so a quote repeated across articles is cited once.
    """

    doc_id: str
    start: int
    end: int
    text: str
    score: float
    duplicates: tuple[tuple[str, int, int], ...] = ()

    def __post_init__(self) -> None:
        _check_span(self.start, self.end, self.text)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "doc": self.doc_id,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 6),
        }
        if self.duplicates:
            out["duplicates"] = [{"doc": d, "start": s, "end": e} for d, s, e in self.duplicates]
        return out


@dataclass(frozen=True)
class Answer:
    """The result of a question: a short answer taken from the first citation, or
    ``None`` when the corpus does not answer it."""

    question: str
    text: str | None
    citations: tuple[Citation, ...] = ()
    retrieved: tuple[Hit, ...] = ()
    confidence: float = 0.0
    sentence: str | None = field(default=None, compare=False)
    withheld: str | None = field(default=None, compare=False)  # why no answer was given, when none was

    @property
    def abstained(self) -> bool:
        return self.text is None

    def __repr__(self) -> str:
        """One line: the full repr would print every retrieved passage (10,000+ characters)."""
        return (
            f"Answer(question={_clip(self.question)!r}, text={_clip(self.text)!r}, "
            f"confidence={self.confidence:.2f}, citations={len(self.citations)}, retrieved={len(self.retrieved)})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "confidence": round(self.confidence, 6),
            "citations": [c.to_dict() for c in self.citations],
            "retrieved": [h.to_dict() for h in self.retrieved],
        }
