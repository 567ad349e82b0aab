"""``ragdiplo eval`` end to end on tiny inputs, with the fake embedder: BEIR runs,
SQuAD JSON, --json, --compare, --report, determinism and errors."""

from __future__ import annotations

import json

import pytest
from conftest import FakeEmbedder
from test_datasets import beir_fixture, squad_fixture

import ragdiplo.cli.main as cli
from ragdiplo.eval.compare import flipped, format_comparison, metric_deltas


@pytest.fixture(autouse=True)
def fake_model(monkeypatch):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ragdiplo: error:"), err
    return err[0]


def _read_run(path) -> list[list[str]]:
    return [line.split(" ") for line in path.read_text(encoding="utf-8").splitlines()]


def test_beir_run_file_json_and_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default index/ folder must not appear here
    beir = beir_fixture(tmp_path)
    run, out = tmp_path / "run.trec", tmp_path / "m.json"
    assert cli.main(["eval", str(beir), "--split", "test", "--run", str(run), "--json", str(out), "-q"]) == 0
    assert not (tmp_path / "index").exists()
    rows = _read_run(run)
    assert {len(r) for r in rows} == {6} and {r[1] for r in rows} == {"Q0"} and {r[5] for r in rows} == {"ragdiplo"}
    assert list(dict.fromkeys(r[0] for r in rows)) == ["1", "2", "10"]
    for qid in ("1", "2", "10"):
        mine = [r for r in rows if r[0] == qid]
        assert [int(r[3]) for r in mine] == list(range(1, len(mine) + 1))
        scores = [float(r[4]) for r in mine]
        assert scores == sorted(scores, reverse=True)
        assert len({r[2] for r in mine}) == len(mine) <= 100
    doc = json.loads(out.read_text())
    assert doc["run"]["input"]["kind"] == "beir" and doc["run"]["input"]["split"] == "test"
    assert set(doc["run"]["input"]["sha256"]) == {"corpus.jsonl", "queries.jsonl", "test.tsv"}
    assert doc["run"]["index"]["path"] is None and doc["run"]["model_id"] == "fake-hash-64"
    assert doc["run"]["settings"]["retrieval"]["fusion"] == "convex"
    m = doc["metrics"]
    assert m["queries"] == 3 and 0 <= m["ndcg@10"] <= 1 and m["recall@100"] == 1.0  # 3 documents: all retrieved
    assert [q["id"] for q in doc["questions"]] == ["1", "2", "10"]
    assert "ndcg@10" in capsys.readouterr().out


def test_beir_metrics_equal_pytrec_eval_on_the_run_file(tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from ragdiplo.eval.datasets import read_qrels

    beir = beir_fixture(tmp_path)
    run, out = tmp_path / "run.trec", tmp_path / "m.json"
    assert cli.main(["eval", str(beir), "--run", str(run), "--json", str(out), "-q"]) == 0
    scores: dict[str, dict[str, float]] = {}
    for qid, _, docid, _, score, _ in _read_run(run):
        scores.setdefault(qid, {})[docid] = float(score)
    qrels = read_qrels(beir / "qrels" / "test.tsv")
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(scores)
    m = json.loads(out.read_text())["metrics"]
    assert m["ndcg@10"] == pytest.approx(sum(v["ndcg_cut_10"] for v in per_query.values()) / 3, abs=1e-6)
    assert m["recall@100"] == pytest.approx(sum(v["recall_100"] for v in per_query.values()) / 3, abs=1e-6)


def test_beir_index_folder_is_built_once_then_reused(tmp_path, capsys):
    beir, idx = beir_fixture(tmp_path), tmp_path / "beir-index"
    assert cli.main(["eval", str(beir), "--index", str(idx), "-q"]) == 0
    manifest = (idx / "manifest.json").read_text()
    first = capsys.readouterr().out
    assert cli.main(["eval", str(beir), "--index", str(idx), "-q"]) == 0
    assert (idx / "manifest.json").read_text() == manifest
    assert capsys.readouterr().out.splitlines()[:-2] == first.splitlines()[:-2]  # latency lines last


def test_beir_refuses_an_index_of_other_documents(tmp_path, tiny_corpus, capsys):
    idx = tmp_path / "seeds-index"
    assert cli.main(["index", str(tiny_corpus), "--index", str(idx), "-q"]) == 0
    manifest = (idx / "manifest.json").read_text()
    assert cli.main(["eval", str(beir_fixture(tmp_path)), "--index", str(idx), "-q"]) == 2
    assert "other documents" in _one_line_error(capsys)
    assert (idx / "manifest.json").read_text() == manifest


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--split", "dev"], "qrels/dev.tsv"), (["--out", "p.jsonl"], "ranks documents only"),
     (["-k", "3"], "ranks documents only"), (["--corpus", "seeds"], "brings its own documents")],
)  # fmt: skip
def test_beir_errors_exit_2(tmp_path, capsys, extra, message):
    assert cli.main(["eval", str(beir_fixture(tmp_path)), "-q", *extra]) == 2
    assert message in _one_line_error(capsys)


def test_eval_without_input_or_with_run_on_gold_exits_2(tmp_path, capsys):
    assert cli.main(["eval", "-q"]) == 2
    assert "--compare" in _one_line_error(capsys)
    gold = tmp_path / "g.jsonl"
    gold.write_text("")
    assert cli.main(["eval", str(gold), "--run", str(tmp_path / "r"), "-q"]) == 2
    assert "BEIR" in _one_line_error(capsys)


def _strip_latency(doc):
    doc = json.loads(json.dumps(doc))
    for name in ("latency_p50_ms", "latency_p95_ms"):
        doc["metrics"].pop(name)
    doc["curves"].pop("latency_ms")
    for q in doc["questions"]:
        q.pop("latency_ms")
    return doc


def test_squad_json_eval_is_deterministic(tmp_path, capsys):
    squad = squad_fixture(tmp_path)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        assert cli.main(["eval", str(squad), "--json", str(out), "-q"]) == 0
    doc_a, doc_b = json.loads(a.read_text()), json.loads(b.read_text())
    assert _strip_latency(doc_a) == _strip_latency(doc_b)
    assert doc_a["run"]["input"]["kind"] == "squad-json" and doc_a["run"]["settings"]["k"] >= 1
    assert [q["id"] for q in doc_a["questions"]] == ["q1", "q2"]
    q = doc_a["questions"][0]
    assert {"passed", "answer", "gold", "f1", "citation_precision", "citation_recall", "confidence"} <= set(q)
    assert doc_a["metrics"]["questions"] == 2 and "aurc" in doc_a["metrics"]


def test_compare_lists_deltas_and_flips(tmp_path, capsys):
    squad = squad_fixture(tmp_path)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli.main(["eval", str(squad), "--json", str(a), "-q"]) == 0
    doc = json.loads(a.read_text())
    doc["questions"][0]["passed"] = not doc["questions"][0]["passed"]
    doc["metrics"]["token_f1"] += 0.25
    b.write_text(json.dumps(doc))
    capsys.readouterr()
    assert cli.main(["eval", "--compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "+0.2500" in out
    was = json.loads(a.read_text())["questions"][0]["passed"]
    assert f"{'pass -> fail' if was else 'fail -> pass'} (1)\n  q1" in out


def test_compare_functions_hand_made():
    a = [{"id": "1", "passed": True}, {"id": "2", "passed": False}, {"id": "3", "passed": True}]
    b = [{"id": "1", "passed": False}, {"id": "2", "passed": True}, {"id": "3", "passed": True}, {"id": "4", "passed": False}]
    broke, fixed = flipped(a, b)
    assert [q["id"] for q in broke] == ["1"] and [q["id"] for q in fixed] == ["2"]
    assert metric_deltas({"x": 0.5, "n": 3}, {"x": 0.75, "y": 1.0}) == [("x", 0.5, 0.75, 0.25), ("n", 3, None, None),
                                                                      ("y", None, 1.0, None)]  # fmt: skip
    run = {"input": {"sha256": {"g": "1"}}}
    text = format_comparison({"run": run, "metrics": {"x": 0.5}, "questions": a},
                             {"run": {"input": {"sha256": {"g": "2"}}}, "metrics": {"x": 0.75}, "questions": b})
    assert "different inputs" in text and "+0.2500" in text


def test_compare_rejects_other_json(tmp_path, capsys):
    f = tmp_path / "x.json"
    f.write_text("{}")
    assert cli.main(["eval", "--compare", str(f), str(f)]) == 2
    assert "--json FILE" in _one_line_error(capsys)


def test_report_escapes_corpus_and_question_text(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    evil = 'The harbour deal was worth 40 million. <script>alert("x")</script> Officials agreed.'
    (corpus / "a.txt").write_text(evil, encoding="utf-8")
    gold = tmp_path / "g.jsonl"
    rows = [{"id": "e1", "question": "How much was the <b>harbour</b> deal worth?", "answers": ["40 million"],
             "evidence": [{"doc": "a.txt", "quote": "The harbour deal was worth 40 million."}]},
            {"id": "e2", "question": "Who agreed <script>?", "answers": [], "evidence": []}]  # fmt: skip
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = tmp_path / "r.html"
    assert cli.main(["eval", str(gold), "--corpus", str(corpus), "--report", str(report), "-q"]) == 0
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;" in page and "&lt;b&gt;harbour&lt;/b&gt;" in page
    assert "http://" not in page and "https://" not in page
    assert page.count("<svg") == 3  # hit@k, risk-coverage, latency
    assert page.count("<details") == 2 and "<mark>" in page
    assert "40 million" in page


def test_report_for_beir(tmp_path):
    report = tmp_path / "r.html"
    assert cli.main(["eval", str(beir_fixture(tmp_path)), "--report", str(report), "-q"]) == 0
    page = report.read_text(encoding="utf-8")
    assert "recall@k" in page and page.count("<details") == 3 and "Harbour deal" in page


def test_beir_duplicate_texts_rank_under_each_id_in_trec_tie_order(tmp_path):
    beir = beir_fixture(tmp_path)
    with open(beir / "corpus.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"_id": "d0", "title": "Harbour deal", "text": "Port Vesta signed a harbour deal worth $40 million."}) + "\n")
    run = tmp_path / "run.trec"
    assert cli.main(["eval", str(beir), "--run", str(run), "-q"]) == 0
    top = [r for r in _read_run(run) if r[0] == "1"][:2]
    assert [r[2] for r in top] == ["d1", "d0"] and top[0][4] == top[1][4]  # equal scores: id descending


def test_report_helpers_hand_computed():
    from ragdiplo.eval.report import highlight, histogram, nice_step

    width, counts = histogram([0.0, 1.0, 2.5, 10.0, float("nan")], bins=4)
    assert width == 2.5 and counts == [2, 1, 0, 1]  # 2.5 opens the second bin; the maximum closes the last
    assert highlight("abc<d>efgh", 3, 6, context=2) == "…bc<mark>&lt;d&gt;</mark>ef…"
    assert [nice_step(x) for x in (0.3, 1, 3, 87, 100, 101, 600)] == [1, 1, 5, 100, 100, 200, 1000]
    assert highlight("abc", 0, 3, "gold") == '<mark class="gold">abc</mark>'


def test_axis_is_round_and_fits_the_data():
    from ragdiplo.eval.report import axis

    assert axis(0.31) == pytest.approx((0.4, 0.1))  # risk near 0.3: not squashed under a 0..1 axis
    assert axis(1.0) == pytest.approx((1.0, 0.2))
    assert axis(0.042) == pytest.approx((0.05, 0.01))
    assert axis(737.0) == pytest.approx((800.0, 200.0))
    assert axis(10) == (10, 2)
    assert axis(3, whole=True) == (3, 1)  # question counts step by whole numbers
    assert axis(0.0) == (1.0, 0.2) and axis(float("nan"), whole=True) == (5.0, 1.0)


def test_risk_axis_is_scaled_to_the_curve_with_round_ticks():
    import re

    from ragdiplo.eval.report import bar_plot, line_plot

    svg = line_plot([(0.25, 0.0), (0.5, 0.1), (1.0, 0.31)], "coverage", "risk")
    y_ticks = re.findall(r'text-anchor="end">([^<]+)<', svg)
    assert y_ticks == ["0.0", "0.1", "0.2", "0.3", "0.4"]
    x_ticks = re.findall(r'y="\d+" text-anchor="middle">([\d.]+)<', svg)
    assert x_ticks == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    bars = bar_plot([312.0, 455.5, 737.2], "milliseconds")
    assert re.findall(r'y="\d+" text-anchor="middle">([\d.]+)<', bars) == ["0", "200", "400", "600", "800"]


def test_report_marks_the_gold_answer_inside_the_cited_text_and_cuts_context_at_words():
    from ragdiplo.eval.report import highlight

    text = "Officials in the port said that the dredging will take 18 Months to finish this year, sources said."
    start = text.index("the dredging")
    end = text.index(" this year")
    shown = highlight(text, start, end, context=18, answers=["18 months", "months"])
    assert shown == ('…port said that <mark>the dredging will take <span class="ga">18 Months</span> to finish</mark>'
                     " this year,…")
    assert highlight("a<b> c", 0, 6, answers=["<b>"]) == '<mark>a<span class="ga">&lt;b&gt;</span> c</mark>'


def test_report_legend_explains_every_metric(tmp_path):
    from ragdiplo.eval.report import METRIC_NOTES

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text("The harbour deal was worth 40 million. Officials agreed.", encoding="utf-8")
    gold = tmp_path / "g.jsonl"
    gold.write_text(json.dumps({"id": "e1", "question": "How much was the harbour deal worth?", "answers": ["40 million"],
                                "evidence": [{"doc": "a.txt", "quote": "The harbour deal was worth 40 million."}]}) + "\n")
    report, metrics = tmp_path / "r.html", tmp_path / "m.json"
    assert cli.main(["eval", str(gold), "--corpus", str(corpus), "--report", str(report), "--json", str(metrics), "-q"]) == 0
    page = report.read_text(encoding="utf-8")
    names = json.loads(metrics.read_text())["metrics"]
    assert set(names) <= set(METRIC_NOTES)
    for name in names:
        assert f'<td>{name}</td><td class="v">' in page and METRIC_NOTES[name].replace("'", "&#x27;") in page
    assert '<span class="ga">40 million</span>' in page
