"""``eval`` inputs that once crashed or misled: a compared run missing what
``--compare`` reads, control characters from a compared run's ids, a gold set
with no questions, duplicate SQuAD question ids, BEIR ids that read as paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_datasets import beir_fixture

import ragdiplo.eval.run as eval_run

from .helpers import refused as _fails
from .helpers import run_cli as _run

QUESTION = "Who signed the harbour deal?"
GOLD = {"id": "q1", "question": QUESTION, "answers": ["Ilse Marten"],
        "evidence": [{"doc": "a.txt", "quote": "signed a harbour deal worth $40 million"}]}  # fmt: skip


@pytest.fixture
def result(cli_index, tmp_path, capsys) -> dict:
    """A real ``--json`` result to take apart."""
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps(GOLD) + "\n")
    assert _run(capsys, "eval", gold, "--index", cli_index, "-q", "--json", tmp_path / "r.json")[0] == 0
    return json.loads((tmp_path / "r.json").read_text())


@pytest.fixture
def nothing_answered(monkeypatch):
    monkeypatch.setattr(eval_run, "predict", lambda *a, **k: pytest.fail("questions were answered"))


def _save(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


# -- --compare ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: d.pop("run"), "'run'"),
        (lambda d: d.update(run=[1]), "'run'"),
        (lambda d: d.update(metrics=[["hit@1", 1.0]]), "'metrics'"),
        (lambda d: d.update(metrics={"hit@1": "high"}), "'metrics'"),
        (lambda d: d.pop("questions"), "'questions'"),
        (lambda d: d["questions"][0].pop("passed"), "'passed'"),
        (lambda d: d["questions"][0].update(passed="yes"), "'passed'"),
        (lambda d: d["questions"][0].pop("id"), "'id'"),
        (lambda d: d["questions"].append(dict(d["questions"][0])), "twice"),
        (lambda d: d["run"].update(input="gold.jsonl"), "'input'"),
    ],
    ids=["no-run", "run-a-list", "metrics-a-list", "metric-a-string", "no-questions", "no-passed", "passed-a-string",
         "no-id", "duplicate-id", "input-a-string"],
)  # fmt: skip
def test_a_compared_run_missing_what_compare_reads_is_one_line(result, tmp_path, capsys, damage, expected):
    good = _save(tmp_path / "good.json", result)
    damage(result)
    bad = _save(tmp_path / "bad.json", result)
    line = _fails(capsys, "eval", "--compare", good, bad)
    assert str(bad) in line and expected in line, line


def test_compare_prints_ids_and_questions_escaped(result, tmp_path, capsys):
    q = result["questions"][0]
    q.update(id="q\x1b]0;pwned\x07\n1", question="Who\x1b[2J signed?\x9b")
    before = _save(tmp_path / "before.json", {**result, "questions": [{**q, "passed": True}]})
    after = _save(tmp_path / "after\x1b[31m.json", {**result, "questions": [{**q, "passed": False}]})
    code, out, err = _run(capsys, "eval", "--compare", before, after)
    assert code == 0, err
    assert not any(c in out for c in ("\x1b", "\x07", "\x9b"))
    assert "q\\x1b]0;pwned\\x07\\x0a1" in out and "Who\\x1b[2J signed?\\x9b" in out and "after\\x1b[31m" in out
    assert "pass -> fail (1)" in out


# -- question sets with nothing to score ----------------------------------------------------------


@pytest.mark.parametrize("content", ["", "\n\n  \n"], ids=["empty", "blank-lines"])
def test_an_empty_gold_file_is_refused(cli_index, tmp_path, capsys, nothing_answered, content):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(content)
    line = _fails(capsys, "eval", gold, "--index", cli_index)
    assert f"no questions in {gold}" in line


def test_a_squad_file_without_questions_is_refused(tmp_path, capsys, nothing_answered):
    squad = _save(tmp_path / "dev.json", {"data": [{"title": "T", "paragraphs": [{"context": "Some text.", "qas": []}]}]})
    assert f"no questions in {squad}" in _fails(capsys, "eval", squad)


def test_a_beir_split_without_judged_queries_is_refused(tmp_path, capsys):
    beir = beir_fixture(tmp_path)
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    assert "no questions in" in _fails(capsys, "eval", beir)


def test_duplicate_squad_question_ids_are_refused(tmp_path, capsys, nothing_answered):
    def qa(qid: str, question: str, answer: str, context: str) -> dict:
        return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}

    a, b = "The mayor signed the harbour deal.", "The strike ended after three weeks."
    data = {"data": [
        {"title": "Harbour", "paragraphs": [{"context": a, "qas": [qa("x1", "Who signed?", "The mayor", a)]}]},
        {"title": "Strike", "paragraphs": [{"context": b, "qas": [qa("x1", "How long?", "three weeks", b),
                                                                   qa("x2", "What ended?", "The strike", b)]}]},
    ]}  # fmt: skip
    squad = _save(tmp_path / "dev.json", data)
    line = _fails(capsys, "eval", squad)
    assert str(squad) in line and "'x1'" in line and "x2" not in line


# -- BEIR ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc_id", ["../../etc/x", "/etc/passwd", "a\x1b[2Jb", "two words"])
def test_beir_document_ids_are_checked_as_corpus_ids(tmp_path, capsys, doc_id):
    beir = beir_fixture(tmp_path)
    rows = [json.loads(line) for line in (beir / "corpus.jsonl").read_text().splitlines()]
    rows[0]["_id"] = doc_id
    (beir / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    line = _fails(capsys, "eval", beir)
    assert "corpus.jsonl:1" in line, line
