"""Sentence boundaries as character spans.

nupunkt (Punkt, no dependencies) finds the boundaries inside a line; a line
break always ends a sentence because news text puts headlines, bylines and
list items on lines of their own without a full stop.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"[^\n]+")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text``, trimmed of surrounding white space.

    Every non-space character of ``text`` lies in exactly one span.
    """
    import nupunkt  # when a text is split: a question to a saved index never loads it

    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        base = line.start()
        if not line.group().strip():
            continue
        for s, e in nupunkt.sent_spans(line.group()):
            s, e = _trim(text, base + s, base + e)
            if s < e:
                spans.append((s, e))
    return spans
