"""Plain data types shared by every stage of the pipeline.

Offsets are always Python ``str`` indices into the original document text,
end exclusive, so ``document.text[start:end] == passage.text`` holds for every
passage and citation the library ever produces.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?")


def parse_date(value: str) -> datetime:
    """An ISO 8601 date (``2025-02-27``) or date-time (``2025-02-27T14:30:00Z``,
    with or without seconds and offset) as an aware datetime; a date is its
    midnight and a time without offset is UTC. Anything else (``27/02/2025``,
    ``2025-02-30``, ``Feb 2025``) raises ``ValueError``: a date that cannot be
    read is never a silent null."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not (_ISO_DATE.fullmatch(text) or _ISO_DATETIME.fullmatch(text)):
        raise ValueError(f"{value!r} is not an ISO 8601 date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM])")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a real date") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _timestamp(value: str) -> float:
    return parse_date(value).timestamp()


def _check_span(start: int, end: int, text: str) -> None:
    if start < 0 or end < start:
        raise ValueError(f"invalid span [{start}, {end})")
    if end - start != len(text):
        raise ValueError(f"span [{start}, {end}) does not match a text of {len(text)} characters")


def _clip(text: str | None, width: int = 60) -> str | None:
    return text if text is None or len(text) <= width else text[: width - 1] + "…"


META_FIELDS = ("title", "date", "source", "url", "tags")


@dataclass(frozen=True)
class Document:
    """One source text; ``id`` is its path relative to the corpus root.

    ``title``, ``date`` (ISO 8601, checked here), ``source``, ``url`` and
    ``tags`` describe the article; none of them is part of ``text``, which is
    what passages and citations cite, so changing them never changes an offset
    or a vector."""

    id: str
    text: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("title", "date", "source", "url"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"document {self.id!r}: {name} must be a string, not {type(value).__name__}")
        if self.date is not None:
            try:
                parse_date(self.date)
            except ValueError as err:
                raise ValueError(f"document {self.id!r}: date {err}") from None
        if not isinstance(self.tags, tuple) or not all(isinstance(t, str) and t for t in self.tags):
            raise ValueError(f"document {self.id!r}: tags must be a tuple of non-empty strings")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def meta(self) -> dict[str, Any]:
        """The metadata that is set, as JSON-ready values (tags a list)."""
        out: dict[str, Any] = {}
        for name in META_FIELDS:
            value = getattr(self, name)
            if value:
                out[name] = list(value) if name == "tags" else value
        return out


@dataclass(frozen=True)
class Passage:
    """A contiguous span of a document, the unit that is embedded and retrieved."""

    doc_id: str
    start: int
    end: int
    text: str
    # the document's metadata, carried for display; not part of identity or equality
    title: str | None = field(default=None, compare=False)
    date: str | None = field(default=None, compare=False)
    source: str | None = field(default=None, compare=False)

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
        out = {"doc": p.doc_id, "start": p.start, "end": p.end, "score": round(self.score, 6)}
        return {**out, "title": p.title, "date": p.date, "source": p.source}


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
    # the cited document's metadata (``answer.metadata.with_metadata`` sets it); not part of equality
    title: str | None = field(default=None, compare=False)
    date: str | None = field(default=None, compare=False)
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_span(self.start, self.end, self.text)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "doc": self.doc_id,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 6),
            "title": self.title,
            "date": self.date,
            "source": self.source,
        }
        if self.duplicates:
            out["duplicates"] = [{"doc": d, "start": s, "end": e} for d, s, e in self.duplicates]
        return out


@dataclass(frozen=True)
class Where:
    """Which documents a question may draw on: dated from ``since`` to ``until``
    (ISO 8601 dates or date-times, both ends included; a date bound covers its
    whole day, in UTC), from ``source`` (matched ignoring case), tagged ``tag``.
    Fields left None do not filter; a document without a date never matches a
    date bound. Retrieval applies it before ranking, so the top k are the best
    passages that match, not the survivors of the unfiltered top k."""

    since: str | None = None
    until: str | None = None
    source: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if isinstance(value, date):  # a datetime is a date too
                object.__setattr__(self, name, value.isoformat())
            elif value is not None:
                parse_date(value)
        for name in ("source", "tag"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty string (got {value!r})")
        low, high = self.bounds()
        if low >= high:
            raise ValueError(f"since {self.since} is after until {self.until}: no date lies between them")

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.since, self.until, self.source, self.tag))

    def describe(self) -> str:
        """The filter in words: ``since 2025-03-01, source BBC``."""
        return ", ".join(f"{name} {value}" for name in ("since", "until", "source", "tag")
                         if (value := getattr(self, name)) is not None)  # fmt: skip

    def bounds(self) -> tuple[float, float]:
        """POSIX timestamps ``[low, high)`` a document's date must lie in."""
        low = _timestamp(self.since) if self.since is not None else -float("inf")
        if self.until is None:
            return low, float("inf")
        high = parse_date(self.until)
        if _ISO_DATE.fullmatch(self.until.strip()):
            return low, (high + timedelta(days=1)).timestamp()
        return low, high.timestamp() + 1e-6  # a date-time bound is included

    def matches(self, when: str | None, source: str | None, tags: tuple[str, ...] = ()) -> bool:
        """Whether a document with this date, source and tags passes."""
        if self.since is not None or self.until is not None:
            low, high = self.bounds()
            if when is None or not low <= _timestamp(when) < high:
                return False
        if self.source is not None and (source is None or source.casefold() != self.source.strip().casefold()):
            return False
        return self.tag is None or self.tag.strip().casefold() in {t.casefold() for t in tags}


@dataclass(frozen=True)
class Report:
    """One of several documents that answer a question differently: its short
    answer, the sentence it stands in, when and where it was published, and
    whether a newer report replaced its value (``superseded``).
    ``Answer.conflicts`` lists them newest first, so a reader sees how the story
    moved instead of one version picked silently."""

    text: str
    citation: Citation
    date: str | None = None
    source: str | None = None
    superseded: bool = False  # an older report whose value a newer one replaced

    def to_dict(self) -> dict[str, Any]:
        c = self.citation
        out = {"answer": self.text, "date": self.date, "source": self.source, "title": c.title,
               "superseded": self.superseded}  # fmt: skip
        return {**out, "doc": c.doc_id, "start": c.start, "end": c.end, "text": c.text, "score": round(c.score, 6)}


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
    # when close candidates from other documents answer differently: every version, the answer's own
    # among them, newest first (``answer.conflicts``); empty when the reports agree or only one answers
    conflicts: tuple[Report, ...] = field(default=(), compare=False)
    # when withheld: the sentences closest to the question, one per document, best first (none answers it)
    closest: tuple[Citation, ...] = field(default=(), compare=False)

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
            "conflicts": [r.to_dict() for r in self.conflicts],
            "closest": [c.to_dict() for c in self.closest],
        }
