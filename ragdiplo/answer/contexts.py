"""What the reader reads: the best sentences with their neighbours, merged; its span grown to whole quotes.

The reader reads a few short stretches of the documents around the sentences
most about the question, not whole passages; a span it finds there is grown so
that it never cuts a short quoted phrase.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragdiplo.index.build import Index


@dataclass(frozen=True)
class Context:
    """A stretch of one document the reader reads: sentences and their
    neighbours merged where they overlap or touch, so no text is read twice."""

    doc_row: int
    start: int
    end: int
    rank: int  # of its best-scored sentence, 0 for the first


def sentence_contexts(index: Index, rows: list[int]) -> list[Context]:
    """Each of the sentences ``rows`` (best first) with the sentence before and
    after it in its document, merged where they overlap: the reader reads a
    few short contexts around the sentences most about the question, not whole
    passages, which keeps a question to two or three model windows."""
    spans = []
    for rank, row in enumerate(rows):
        doc_row = int(index.sentence_rows[row, 0])
        first = row - 1 if row > 0 and int(index.sentence_rows[row - 1, 0]) == doc_row else row
        last = row + 1 if row + 1 < len(index.sentence_rows) and int(index.sentence_rows[row + 1, 0]) == doc_row else row
        spans.append((doc_row, int(index.sentence_rows[first, 1]), int(index.sentence_rows[last, 2]), rank))
    return merge_contexts(spans)


def merge_contexts(spans: list[tuple[int, int, int, int]]) -> list[Context]:
    """(doc row, start, end, rank) stretches merged per document where they
    overlap or touch, best-ranked first."""
    by_doc: dict[int, list[tuple[int, int, int]]] = {}
    for d, s, e, rank in spans:
        by_doc.setdefault(d, []).append((s, e, rank))
    out = []
    for d, parts in by_doc.items():
        parts.sort()
        cur_s, cur_e, cur_r = parts[0]
        for s, e, r in parts[1:]:
            if s <= cur_e:
                cur_e, cur_r = max(cur_e, e), min(cur_r, r)
            else:
                out.append(Context(d, cur_s, cur_e, cur_r))
                cur_s, cur_e, cur_r = s, e, r
        out.append(Context(d, cur_s, cur_e, cur_r))
    return sorted(out, key=lambda c: (c.rank, c.start))


_QUOTES = {"“": "”", "‘": "’", '"': '"', "«": "»"}
MAX_QUOTE_CHARS = 60  # a quoted word or phrase inside an answer, not a quoted speech


def whole_quotes(text: str, s: int, e: int) -> tuple[int, int]:
    """The span ``s:e`` of ``text`` grown so that it never cuts a short quoted
    phrase: a span that stops just before an opening quote takes the quoted
    words (``a US`` + ``“backstop”``), and one that holds only one mark of a
    pair takes the rest of the quote. Quotes longer than ``MAX_QUOTE_CHARS``
    (speech) are left as they are."""
    inside = text[s:e]
    after = text[e:]
    gap = len(after) - len(after.lstrip(" "))
    if gap <= 1 and after[gap : gap + 1] in _QUOTES and inside[-1:].isalnum():
        close = text.find(_QUOTES[after[gap]], e + gap + 1, e + gap + 1 + MAX_QUOTE_CHARS)
        if close > e + gap + 1 and "\n" not in text[e:close]:
            return s, close + 1
    for open_mark, close_mark in _QUOTES.items():
        if open_mark == close_mark:
            continue
        if inside.count(open_mark) > inside.count(close_mark):
            close = text.find(close_mark, e, e + MAX_QUOTE_CHARS)
            if close >= 0 and "\n" not in text[e:close]:
                return s, close + 1
        if inside.count(close_mark) > inside.count(open_mark):
            start = text.rfind(open_mark, max(0, s - MAX_QUOTE_CHARS), s)
            if start >= 0 and "\n" not in text[start:s]:
                return start, e
    return s, e


__all__ = ["MAX_QUOTE_CHARS", "Context", "merge_contexts", "sentence_contexts", "whole_quotes"]
