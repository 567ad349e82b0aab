"""The HTML report of a small fake run: each question's verdict beside its token
F1, a partial answer marked as such, unanswerable questions labelled, the
answerer and the models named in the header, and a reading guide under every plot."""

from __future__ import annotations

import json
import re

import pytest
from conftest import DOC_A, DOC_B, FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.answer.settings import QAConfig
from ragdiplo.eval.datasets import Evidence, GoldQuestion
from ragdiplo.eval.report import GUIDES, answerer_record, partial_answer, render
from ragdiplo.eval.run import Evaluation, run_info, score_answers
from ragdiplo.index.build import build_index
from ragdiplo.ingest.corpus import load_corpus


def _span(doc: str, text: str, quote: str) -> tuple[str, int, int]:
    start = text.index(quote)
    return doc, start, start + len(quote)


DREDGING = _span("a.txt", DOC_A, "will take 18 months to finish")
STRIKE = _span("b.txt", DOC_B, "The strike had lasted three weeks")
TRAINS = _span("b.txt", DOC_B, "Trains will run again on Monday")
# id, question, gold answers, evidence, the answer given, the span it cites
RUN = [
    ("q1", "How long will the dredging take?", ["18 months"], DREDGING, "18 months", DREDGING),
    ("q2", "How long had the strike lasted?", ["three weeks"], STRIKE, "three", STRIKE),
    ("q3", "Who won the cup final?", [], None, None, None),
    ("q4", "When will trains run again?", ["Monday"], TRAINS, "Tuesday", TRAINS),
]


@pytest.fixture
def run(tiny_corpus):
    """Index, gold questions and a scored run built by hand: one pass, one partial
    answer, one unanswerable question left unanswered, one plain failure."""
    index = build_index(load_corpus(tiny_corpus), FakeEmbedder())
    gold, predictions = [], []
    for qid, question, answers, evidence, answer, cited in RUN:
        gold.append(GoldQuestion(qid, question, tuple(answers), (Evidence(*evidence),) if evidence else ()))
        spans = [{"doc": cited[0], "start": cited[1], "end": cited[2], "text": ""}] if cited else []
        predictions.append({"id": qid, "question": question, "answer": answer, "confidence": 0.9 if answer else 0.1,
                            "citations": spans, "retrieved": spans, "latency_ms": 12.5, "conflicts": []})
    return index, score_answers(gold, predictions)


def _info(index, reader: str | None = "shipped") -> dict:
    info = run_info(index, None, {"k": 5, "qa": QAConfig(reader=reader)}, {"kind": "gold-jsonl", "path": "gold.jsonl"})
    return {**info, **answerer_record(reader)}


def _rows(page: str) -> dict[str, str]:
    """Each question's one-line summary, by question id."""
    summaries = re.findall(r"<summary>(.*?)</summary>", page)
    return {re.search(r'<span class="id">([^<]+)</span>', s).group(1): s for s in summaries}


def test_every_question_shows_its_token_f1_beside_its_verdict(run):
    index, result = run
    rows = _rows(render(_info(index), result, index))
    assert set(rows) == {"q1", "q2", "q3", "q4"}
    for q in result.questions:
        badge, f1 = re.match(r'<span class="(\w+)">\w+</span><span class="f1"[^>]*>F1 ([^<]+)</span>', rows[q["id"]]).groups()
        assert f1 == (f"{q['f1']:.2f}" if q["answerable"] else "–")
        assert (badge == "pass") == q["passed"]
    assert [q["f1"] for q in result.questions] == [1.0, pytest.approx(2 / 3, abs=1e-6), 0.0, 0.0]


def test_a_shorter_part_of_the_gold_answer_is_partial_not_a_plain_failure(run):
    index, result = run
    page = render(_info(index), result, index)
    rows = _rows(page)
    assert rows["q2"].startswith('<span class="partial">partial</span>') and "F1 0.67" in rows["q2"]
    assert rows["q4"].startswith('<span class="fail">fail</span>')  # "Tuesday" shares no word with "Monday"
    assert "2 failed of 4, 1 of them partial" in page


@pytest.mark.parametrize(
    ("answer", "gold", "partial"),
    [("three", ["three weeks"], True), ("The three", ["three weeks"], True), ("three", ["Monday", "three weeks"], True),
     ("three days", ["three weeks"], False), ("three weeks", ["three weeks"], False), ("", ["three weeks"], False),
     (None, ["three weeks"], False), ("three", [], False)],
)
def test_partial_answer_hand_computed(answer, gold, partial):
    assert partial_answer(answer, gold) is partial


def test_unanswerable_questions_are_labelled_in_the_list(run):
    index, result = run
    rows = _rows(render(_info(index), result, index))
    assert "unanswerable" in rows["q3"] and rows["q3"].startswith('<span class="pass">pass</span>')
    assert all("unanswerable" not in rows[q] for q in ("q1", "q2", "q4"))


def test_the_header_names_the_answerer_and_the_models(run):
    index, result = run
    header = render(_info(index), result, index).split("<h2>")[0]
    assert "<b>reader</b>" in header and "ragdiplo/models/reader/model.int8.onnx" in header
    assert "embedding model <b>fake-hash-64</b>" in header
    rules = render(_info(index, reader=None), result, index).split("<h2>")[0]
    assert "<b>sentence rules</b>" in rules and "model.int8.onnx" not in rules and "fake-hash-64" in rules
    # a record made by run_info alone: the answerer is read from its settings
    bare = run_info(index, None, {"k": 5, "qa": QAConfig(reader=None)}, {"kind": "gold-jsonl", "path": "g.jsonl"})
    assert "<b>sentence rules</b>" in render(bare, result, index).split("<h2>")[0]


def test_every_plot_has_a_line_on_how_to_read_it(run):
    index, result = run
    page = render(_info(index), result, index)
    captions = re.findall(r"<figure><svg.*?</svg><figcaption><b>[^<]+</b>([^<]+)</figcaption></figure>", page)
    assert len(captions) == page.count("<svg") == 3  # hit@k, risk-coverage, latency
    assert captions[0] == GUIDES["hit@k"].replace("'", "&#x27;")
    assert captions[1].startswith("Each point: answer only the most confident share of questions (x)")
    assert "Lower is better" in captions[1] and captions[2].startswith("Each bar: how many questions (y)")
    ranking = Evaluation({"queries": 1}, {"recall@k": [[1, 0.5], [2, 1.0]], "latency_ms": [3.0]},
                         [{"id": "1", "question": "harbour", "passed": True, "ndcg@10": 1.0, "hit_rank": 1,
                           "relevant": ["a.txt"], "top": ["a.txt"]}], ranking={"1": [("a.txt", 1.0)]})
    beir = render(run_info(index, None, {"retrieval": QAConfig().retrieval}, {"kind": "beir", "path": "b"}),
                  ranking, index)
    assert "Ranking only" in beir and "of each query&#x27;s relevant documents" in beir
    assert "Each bar: how many queries (y)" in beir and beir.count("<figcaption>") == 2


def test_eval_records_and_shows_what_answered(tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "g1", "question": "How long had the strike lasted?", "answers": ["three weeks"],
                                "evidence": [{"doc": "b.txt", "quote": "The strike had lasted three weeks"}]}) + "\n",
                    encoding="utf-8")
    report, out = tmp_path / "r.html", tmp_path / "m.json"
    argv = ["eval", str(gold), "--corpus", str(tiny_corpus), "--rules", "--report", str(report), "--json", str(out), "-q"]
    assert cli.main(argv) == 0
    record = json.loads(out.read_text(encoding="utf-8"))["run"]
    assert record["answerer"] == "rules" and record["reader_model"] is None and record["model_id"] == "fake-hash-64"
    page = report.read_text(encoding="utf-8")
    assert "<b>sentence rules</b>" in page and "embedding model <b>fake-hash-64</b>" in page and "F1 " in page
