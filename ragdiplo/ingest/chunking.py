"""Split documents into passages of whole sentences, sized in model tokens.

A passage never holds more tokens than the embedder can read, so nothing is
silently truncated at embedding time; a sentence longer than that is cut at
word boundaries. Overlap repeats trailing sentences of one passage at the start
of the next so that an answer near a boundary is whole in at least one passage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Protocol

from ragdiplo.errors import ConfigError
from ragdiplo.ingest.sentences import sentence_spans
from ragdiplo.types import Document, Passage


class Tokenizer(Protocol):
    """Gives the character spans of the model tokens of a text."""

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...


@dataclass(frozen=True)
class ChunkerConfig:
    max_tokens: int = 200
    overlap_tokens: int = 50

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ConfigError(f"max_tokens must be at least 8 (got {self.max_tokens})")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ConfigError(f"overlap_tokens must be between 0 and max_tokens - 1 (got {self.overlap_tokens})")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int


def _split_long(text: str, start: int, end: int, tokenizer: Tokenizer, limit: int) -> list[_Unit]:
    """Cut an over-long sentence into pieces of at most ``limit`` tokens,
    preferring cuts before a token that starts a word."""
    spans = [(start + s, start + e) for s, e in tokenizer.token_spans(text[start:end])]
    units: list[_Unit] = []
    i = 0
    while i < len(spans):
        j = min(i + limit, len(spans))
        if j < len(spans):
            cut = next((c for c in range(j, i, -1) if spans[c][0] > spans[c - 1][1]), j)
            j = cut
        # a cut inside a word can re-tokenize into more pieces: count for real
        n = len(tokenizer.token_spans(text[spans[i][0] : spans[j - 1][1]]))
        while n > limit and j > i + 1:
            j -= 1
            n = len(tokenizer.token_spans(text[spans[i][0] : spans[j - 1][1]]))
        units.append(_Unit(spans[i][0], spans[j - 1][1], n))
        i = j
    return units


def _units(doc: Document, tokenizer: Tokenizer, limit: int) -> list[_Unit]:
    units: list[_Unit] = []
    for start, end in sentence_spans(doc.text):
        n = len(tokenizer.token_spans(doc.text[start:end]))
        if n <= limit:
            units.append(_Unit(start, end, n))
        else:
            units.extend(_split_long(doc.text, start, end, tokenizer, limit))
    return [u for u in units if u.tokens > 0 or doc.text[u.start : u.end].strip()]


def _fits(doc: Document, first: _Unit, last: _Unit, tokenizer: Tokenizer, limit: int) -> bool:
    return len(tokenizer.token_spans(doc.text[first.start : last.end])) <= limit


def _pack(units: list[_Unit], doc: Document, tokenizer: Tokenizer, config: ChunkerConfig) -> list[tuple[int, int]]:
    """Greedy packing of consecutive units into windows of at most max_tokens."""
    windows: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and total + units[j].tokens <= config.max_tokens:
            total += units[j].tokens
            j += 1
        j = max(j, i + 1)
        while j > i + 1 and not _fits(doc, units[i], units[j - 1], tokenizer, config.max_tokens):
            j -= 1
        windows.append((i, j))
        if j >= len(units):
            break
        back, carried = j, 0
        while back - 1 > i and carried + units[back - 1].tokens <= config.overlap_tokens:
            back -= 1
            carried += units[back].tokens
        while back < j and carried + units[j].tokens > config.max_tokens:
            carried -= units[back].tokens
            back += 1
        i = back
    return windows


def segment_document(
    doc: Document, tokenizer: Tokenizer, config: ChunkerConfig = ChunkerConfig()
) -> tuple[list[tuple[int, int]], list[Passage]]:
    """Sentence spans (long sentences cut to fit the model) and the passages
    built from them; the answer scorer works on those same sentence spans."""
    units = _units(doc, tokenizer, config.max_tokens)
    passages = []
    for i, j in _pack(units, doc, tokenizer, config):
        start, end = units[i].start, units[j - 1].end
        passages.append(Passage(doc.id, start, end, doc.text[start:end]))
    return [(u.start, u.end) for u in units], passages


def chunk_document(doc: Document, tokenizer: Tokenizer, config: ChunkerConfig = ChunkerConfig()) -> list[Passage]:
    return segment_document(doc, tokenizer, config)[1]


def chunk_documents(
    docs: Iterable[Document], tokenizer: Tokenizer, config: ChunkerConfig = ChunkerConfig()
) -> list[Passage]:
    return [p for doc in docs for p in chunk_document(doc, tokenizer, config)]
