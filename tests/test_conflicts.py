"""When reports differ: close answers from different documents that say
different things are listed with their dates and sources, newest first."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from ragdiplo.answer.candidates import Candidate
from ragdiplo.answer.conflicts import conflicting, differs, newest_first, prefer_latest
from ragdiplo.answer.settings import QAConfig
from ragdiplo.cli.format import format_answer
from ragdiplo.errors import ConfigError
from ragdiplo.qa import QA
from ragdiplo.types import Citation, Report

QUESTION = "Who leads the Port Vesta harbour authority?"
ROWS = [  # id, date, source, text
    ("old", "2025-01-10", "Herald", "Port Vesta harbour authority is led by Anna Berg, the council said in January."),
    ("new", "2025-06-20", "Gazette", "Port Vesta harbour authority is led by Karl Moss, the council said in June."),
    ("other", "2025-03-01", "Herald", "Rail workers in Kessel ended their strike after wages rose by 5%."),
]


@pytest.fixture
def qa(tmp_path: Path, fake_embedder) -> QA:
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps({"id": i, "date": d, "source": s, "text": t}) + "\n" for i, d, s, t in ROWS))
    return QA.build(path, embedder=fake_embedder)


def test_close_answers_from_two_dated_documents_are_both_reported_newest_first(qa):
    answer = qa.ask(QUESTION)
    assert answer.text == "Karl Moss"  # the newest report answers, without a time word too
    assert [(r.text, r.date, r.source, r.superseded) for r in answer.conflicts] == [
        ("Karl Moss", "2025-06-20", "Gazette", False), ("Anna Berg", "2025-01-10", "Herald", True)]
    for r in answer.conflicts:  # each report cites the sentence it stands in, with its metadata
        doc = qa.index.document(r.citation.doc_id)
        assert doc.text[r.citation.start : r.citation.end] == r.citation.text and r.text in r.citation.text
        assert r.citation.date == r.date
    assert [c["date"] for c in answer.to_dict()["conflicts"]] == ["2025-06-20", "2025-01-10"]
    lines = format_answer(answer).splitlines()
    at = lines.index("Reports differ (newest first):")
    assert lines[at + 1].startswith("    - 2025-06-20, Gazette: Karl Moss (new:")
    assert lines[at + 2].startswith("    - 2025-01-10, Herald: Anna Berg (old:") and lines[at + 2].endswith(", superseded)")


def test_zero_margins_never_report_and_negative_ones_are_refused(tmp_path, fake_embedder, qa):
    quiet = QA(qa.index, fake_embedder, QAConfig(conflict_margin=0.0, typed_conflict_margin=0.0))
    answer = quiet.ask(QUESTION)
    assert answer.text == "Anna Berg" and answer.conflicts == ()  # the best span, no newer report considered
    assert "Reports differ" not in format_answer(answer)
    for name in ("conflict_margin", "typed_conflict_margin"):
        with pytest.raises(ConfigError, match=name):
            QAConfig(**{name: -1.0})


def test_a_question_one_document_answers_has_no_conflicts(qa):
    answer = qa.ask("How much did wages rise in Kessel?")
    assert answer.conflicts == () and answer.to_dict()["conflicts"] == []


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("Karl Moss", "Anna Berg", True),
    ("Trump", "Donald Trump", False),  # one holds the other: they agree
    ("the U.S.", "The US", True),  # "u s" and "us" are different words
    ("$500 billion", "$500 Billion.", False),
    ("", "Anna Berg", False),
])
def test_differs(a, b, expected):
    assert differs(a, b) is expected


def candidates(*rows: tuple[float, float, int, int, int, int]) -> list[Candidate]:
    """Candidates from (score, margin, rank, doc_row, start, end)."""
    return [Candidate(doc_row, s, e, margin, 1, rank, score=score) for score, margin, rank, doc_row, s, e in rows]


def test_conflicting_takes_each_other_document_once_by_its_best_close_positive_span():
    found = candidates(  # (score, margin, rank, doc_row, start, end), best first
        (10.0, 3.0, 0, 0, 0, 5),
        (9.5, 2.0, 0, 0, 6, 9),  # the answer's own document: never a conflict
        (9.0, -0.5, 1, 1, 0, 4),  # doc 1's best span does not beat "no answer": doc 1 is silent
        (8.9, 1.0, 1, 1, 5, 9),
        (8.5, 1.0, 2, 2, 0, 3),
        (7.0, 4.0, 3, 3, 0, 3),  # too far below the best
    )
    assert conflicting(found, 2.0) == [found[4]]
    assert conflicting(found, 0.0) == []


def test_newest_first_puts_undated_reports_last():
    c = Citation("a", 0, 1, "x", 1.0)
    items = [Report("x", c, None, "S"), Report("y", c, "2025-02-26", None), Report("z", c, "2025-08-19T10:00Z", None)]
    assert [r.text for r in newest_first(items)] == ["z", "y", "x"]


def test_a_question_asking_for_the_latest_prefers_the_newest_close_report(tmp_path, fake_embedder, qa):
    latest = qa.ask("Who leads the Port Vesta harbour authority now?")
    assert latest.text == "Karl Moss" and latest.citations[0].doc_id == "new"
    # the dates decide, not the words: the same texts with the dates swapped answer the other name
    swapped = tmp_path / "swapped.jsonl"
    swapped.write_text("".join(json.dumps({"id": i, "date": d, "text": t}) + "\n"
                               for (i, _, _, t), d in zip(ROWS, ["2025-06-20", "2025-01-10", "2025-03-01"])))
    answer = QA.build(swapped, embedder=fake_embedder).ask("Who is the latest head of the Port Vesta harbour authority?")
    assert answer.text == "Anna Berg" and answer.citations[0].doc_id == "old"


def test_the_recency_tie_break_is_off_at_a_zero_margin(qa, fake_embedder):
    off = QA(qa.index, fake_embedder, QAConfig(recency_margin=0.0, typed_conflict_margin=0.0))
    assert off.ask("Who leads the Port Vesta harbour authority now?").text == "Anna Berg"  # the close call, untouched
    with pytest.raises(ConfigError, match="recency_margin"):
        QAConfig(recency_margin=-0.5)


def _index_with_dates(*dates: str | None) -> SimpleNamespace:
    return SimpleNamespace(documents=[SimpleNamespace(date=d) for d in dates])


def test_prefer_latest_breaks_close_calls_only_among_real_answers():
    index = _index_with_dates("2025-01-01", "2025-06-01", "2025-09-01", None)
    found = candidates(  # (score, margin, rank, doc_row, start, end), best first
        (10.0, 3.0, 0, 0, 0, 5),
        (9.0, 1.0, 1, 1, 0, 4),  # close and newer
        (8.5, -0.2, 2, 2, 0, 4),  # newest, but does not beat "no answer"
        (9.5, 2.0, 0, 3, 0, 4),  # undated
    )
    assert prefer_latest(index, found, 2.0)[0] == found[1]
    assert set(prefer_latest(index, found, 2.0)) == set(found)  # a reordering, nothing dropped
    assert prefer_latest(index, found, 0.5) == found  # the newer one is not close enough: the best stays
    assert prefer_latest(index, found, 0.0) == found
    assert prefer_latest(_index_with_dates(None, None, None, None), found, 2.0) == found


FERRY = [  # three dated reports of one rescue, the newest with the final figure, and an unrelated item
    ("ferry-1", "2025-03-02", "Coast Daily", "Ferry runs aground off Skarvik\n\nThe Marenne ferry ran aground off Skarvik "
     "late on Saturday with 240 people on board. By Sunday morning 187 passengers had been rescued from the Marenne, "
     "the coastguard said. Strong winds slowed the operation."),
    ("ferry-2", "2025-03-03", "Nordic Wire", "Rescue goes on at Skarvik\n\nDivers searched the hull of the Marenne on "
     "Monday. Officials confirmed that 187 passengers were rescued over the weekend and said the search would continue."),
    ("ferry-3", "2025-03-05", "Harbour News", "Skarvik rescue ends\n\nThe coastguard ended the Marenne rescue on "
     "Wednesday. In total 212 passengers were rescued, after three more lifeboats were found near the island of Holm."),
    ("port", "2025-03-04", "Coast Daily", "Port fees rise\n\nThe port of Skarvik will raise its fees by 8% from April, "
     "the harbour board said."),
]  # fmt: skip


@pytest.fixture
def ferry(tmp_path: Path, fake_embedder) -> QA:
    path = tmp_path / "ferry.jsonl"
    path.write_text("".join(json.dumps({"id": i, "date": d, "source": s, "text": t}) + "\n" for i, d, s, t in FERRY))
    return QA.build(path, embedder=fake_embedder)


@pytest.mark.parametrize("question", ["How many passengers were rescued?",
                                      "How many passengers were rescued from the Marenne?"])  # fmt: skip
def test_the_newest_reports_figure_answers_and_the_older_ones_are_shown_superseded(ferry, question):
    answer = ferry.ask(question)
    assert answer.text is not None and "212" in answer.text and answer.citations[0].doc_id == "ferry-3"
    shown = [(r.text, r.date, r.source, r.superseded) for r in answer.conflicts]
    assert shown[0] == ("212", "2025-03-05", "Harbour News", False)
    assert ("187", "2025-03-03", "Nordic Wire", True) in shown
    for r in answer.conflicts:  # whole values, each cited by the sentence it stands in
        assert r.text in r.citation.text and r.citation.text == ferry.index.document(r.citation.doc_id).text[
            r.citation.start : r.citation.end]
    assert [c["superseded"] for c in answer.to_dict()["conflicts"]] == [r.superseded for r in answer.conflicts]
    lines = format_answer(answer).splitlines()
    at = lines.index("Reports differ (newest first):")
    assert lines[at + 1].startswith("    - 2025-03-05, Harbour News: 212 (ferry-3:")
    assert any("Nordic Wire: 187 (ferry-2:" in line and line.endswith(", superseded)") for line in lines[at + 2 :])


def test_reports_that_agree_or_answer_another_question_are_not_a_conflict(ferry):
    assert ferry.ask("When did the Marenne run aground?").conflicts == ()  # the rescue ending on Wednesday is another event
    assert ferry.ask("How much will the port of Skarvik raise its fees?").conflicts == ()  # one document answers


def test_undated_documents_never_conflict(tmp_path, fake_embedder):
    path = tmp_path / "undated.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, _, _, t in FERRY))
    answer = QA.build(path, embedder=fake_embedder).ask("How many passengers were rescued?")
    assert answer.conflicts == () or all(r.date is None for r in answer.conflicts)
    assert not any(r.superseded for r in answer.conflicts)
