"""When reports differ: other documents whose best span scores close to the
answer's and says something else.

News articles written months apart disagree ("I'm not going to make security
guarantees" in February, "Trump's commitment to security guarantees" in
August). Picking one silently hides that, so the answer lists every version
with its date and source, newest first. Each document speaks once, by its best
span: a document whose best span agrees with the answer corroborates it (it is
cited), one whose best span differs is a conflicting report when that span
beats "no answer" and scores within ``QAConfig.conflict_margin`` of the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ragdiplo.answer.candidates import Candidate, words
from ragdiplo.answer.metadata import cite_with_metadata
from ragdiplo.index.build import Index
from ragdiplo.types import Citation, Report, parse_date

# how the answerer cites a span: (doc row, start, end, score) -> the sentence(s) holding it
CiteSpan = Callable[[int, int, int, float], Citation]


def differs(a: str, b: str) -> bool:
    """Whether two short answers say different things: their words differ and
    neither holds the other ("Trump" and "Donald Trump" agree)."""
    x, y = words(a), words(b)
    return bool(x and y) and f" {x} " not in f" {y} " and f" {y} " not in f" {x} "


def conflicting(found: Sequence[Candidate], margin: float) -> list[Candidate]:
    """The best candidate of each other document that answers differently from
    ``found[0]`` and scores within ``margin`` of it, best first; empty when
    none does (then the reports agree, or only one document answers)."""
    if not found or margin <= 0:
        return []
    seen = {found[0].doc_row}
    out = []
    for candidate in found[1:]:
        if found[0].score - candidate.score >= margin:
            break  # found is sorted: nothing later is close
        if candidate.doc_row in seen:
            continue
        seen.add(candidate.doc_row)  # a document speaks once, by its best span
        if candidate.margin > 0:
            out.append(candidate)
    return out


def reports(
    index: Index,
    found: Sequence[Candidate],
    margin: float,
    cite: Citation,
    cite_span: CiteSpan,
) -> tuple[Report, ...]:
    """The answer (``found[0]``, cited by ``cite``) and every close candidate of
    another document that answers differently, as dated reports newest first
    (undated ones last); empty when no other document disagrees."""
    if not found:
        return ()
    best = found[0]
    answer_text = index.documents[best.doc_row].text[best.start : best.end]
    others = [c for c in conflicting(found, margin) if differs(index.documents[c.doc_row].text[c.start : c.end], answer_text)]
    if not others:
        return ()
    out = [_report(index, best.doc_row, answer_text, cite)]
    for c in others:
        text = index.documents[c.doc_row].text[c.start : c.end]
        out.append(_report(index, c.doc_row, text, cite_span(c.doc_row, c.start, c.end, c.margin)))
    return tuple(newest_first(out))


def _report(index: Index, doc_row: int, text: str, citation: Citation) -> Report:
    doc = index.documents[doc_row]
    return Report(text, cite_with_metadata(index, citation), doc.date, doc.source)


def prefer_latest(index: Index, found: Sequence[Candidate], margin: float) -> list[Candidate]:
    """``found`` with the candidate of the newest dated document first, among
    those that beat "no answer" and score within ``margin`` of the best: for a
    question asking for the latest news ("What is Trump's position now?"),
    the newest report wins a close call, never a clear one (a tie-break, not a
    filter). Unchanged when none of them is dated or ``margin`` is 0."""
    if not found or margin <= 0:
        return list(found)
    best = found[0].score
    close = [c for c in found if best - c.score < margin and c.margin > 0]
    dated = [(parse_date(date).timestamp(), -i, c) for i, c in enumerate(close) if (date := index.documents[c.doc_row].date)]
    if not dated:
        return list(found)
    chosen = max(dated, key=lambda d: (d[0], d[1]))[2]
    return [chosen, *(c for c in found if c is not chosen)]


def newest_first(items: list[Report]) -> list[Report]:
    """``items`` by date, newest first; undated ones after, in their order."""
    dated = sorted((r for r in items if r.date), key=lambda r: parse_date(r.date or "").timestamp(), reverse=True)
    return dated + [r for r in items if not r.date]


__all__ = ["conflicting", "differs", "newest_first", "prefer_latest", "reports"]
