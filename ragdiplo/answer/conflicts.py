"""When reports differ: dated documents whose best answers say different things.

News articles written days or months apart disagree ("187 passengers were
rescued" on Sunday, "in total 212" on Wednesday). Picking one silently hides
that, so the answer lists every version with its date and source, newest
first. Each document speaks once, by its best candidate:

* a question asking for a number, a date, a name... (``Question.kind``): every
  dated document whose best candidate is well supported (the decision would
  give it on its own, it scores within ``QAConfig.typed_conflict_margin`` of
  the best, and its sentence holds every figure the question names) and holds
  a value of that kind is a report; when their values
  differ, the newest report's value is the answer and the older ones are
  shown as superseded (``typed_reports``);
* any other question: another document's best span that beats "no answer",
  scores within ``QAConfig.conflict_margin`` of the answer and says something
  else is a differing report (``reports``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ragdiplo.answer.candidates import Candidate, around, words
from ragdiplo.answer.metadata import cite_with_metadata
from ragdiplo.answer.question import AnswerType, Question
from ragdiplo.answer.spans import best_span
from ragdiplo.answer.spans import candidates as typed_spans
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


def _report(index: Index, doc_row: int, text: str, citation: Citation, superseded: bool = False) -> Report:
    doc = index.documents[doc_row]
    return Report(text, cite_with_metadata(index, citation), doc.date, doc.source, superseded)


def typed_value(question: Question, text: str) -> str | None:
    """The value of the kind ``question`` asks for that a candidate's ``text``
    gives ("212" of "In total 212", not "212 passengers were rescued by
    three"); the one nearest the question's words when it holds several;
    ``None`` when it holds none."""
    if question.kind is AnswerType.OTHER or not typed_spans(text, question.kind):
        return None
    at = best_span(question, text)
    return text[at[0] : at[1]] if at else None


def typed_reports(
    index: Index,
    question: Question,
    found: Sequence[Candidate],
    supported: Callable[[Candidate], bool],
    margin: float,
) -> list[tuple[Candidate, str]]:
    """For a question asking for a number, date, name...: the best candidate of
    each dated document that is ``supported``, scores within ``margin`` of the
    best candidate and holds a value of that kind, with that value, newest
    first, when two of them give different values; empty when they agree (or
    fewer than two dated documents answer)."""
    if question.kind is AnswerType.OTHER or not found or margin <= 0:
        return []
    seen: set[int] = set()
    dated: list[tuple[float, int, Candidate, str]] = []
    for i, c in enumerate(found):
        if c.doc_row in seen:
            continue
        seen.add(c.doc_row)  # a document speaks once, by its best candidate
        if found[0].score - c.score >= margin:
            break  # found is sorted: nothing later is close
        date = index.documents[c.doc_row].date
        value = typed_value(question, index.documents[c.doc_row].text[c.start : c.end])
        if date and value and c.margin > 0 and supported(c) and _holds_figures(index, question, c):
            dated.append((parse_date(date).timestamp(), -i, c, value))
    dated.sort(key=lambda d: (d[0], d[1]), reverse=True)
    values = [v for *_, v in dated]
    if not any(differs(values[0], v) for v in values[1:]):
        return []
    return [(c, v) for _, _, c, v in dated]


_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")


def _holds_figures(index: Index, question: Question, c: Candidate) -> bool:
    """Whether the sentence holding ``c`` (with its neighbours) holds every
    figure the question names: "lift spending to 3% by which year?" is not
    answered by a sentence about 2.5% by 2027, however close its score."""
    figures = set(_FIGURE.findall(question.text))
    return not figures or figures <= set(_FIGURE.findall(around(index, c.doc_row, c.start, c.end)))


def superseded_reports(
    index: Index, question: Question, newest_first_found: list[tuple[Candidate, str]], cite_span: CiteSpan
) -> tuple[Report, ...]:
    """``typed_reports``' documents as reports of their values, newest first;
    each older one whose value differs from the newest is marked superseded."""
    newest = newest_first_found[0][1]
    return tuple(_report(index, c.doc_row, value, cite_span(c.doc_row, c.start, c.end, c.margin), differs(newest, value))
                 for c, value in newest_first_found)  # fmt: skip


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


__all__ = ["conflicting", "differs", "newest_first", "prefer_latest", "reports", "superseded_reports", "typed_reports",
           "typed_value"]  # fmt: skip
