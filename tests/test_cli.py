"""The CLI in-process, with the fake embedder swapped in for the real model."""

from __future__ import annotations

import json
import re

import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli


@pytest.fixture(autouse=True)
def fake_model(monkeypatch):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())


@pytest.fixture
def index_dir(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    assert cli.main(["index", str(tiny_corpus), "--index", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    return out


def _raw(corpus, doc_id: str) -> str:
    return (corpus / doc_id).read_bytes().decode("utf-8")


def test_index_reports_counts_unless_quiet(tiny_corpus, tmp_path, capsys):
    assert cli.main(["index", str(tiny_corpus), "--index", str(tmp_path / "i")]) == 0
    err = capsys.readouterr().err
    assert "indexed 3 documents as" in err
    assert (tmp_path / "i" / "manifest.json").is_file()


def test_index_with_chunker_options(tiny_corpus, tmp_path):
    out = tmp_path / "i"
    assert cli.main(["index", str(tiny_corpus), "--index", str(out), "--max-tokens", "16", "--overlap", "0", "-q"]) == 0
    assert json.loads((out / "manifest.json").read_text())["chunker"] == {"max_tokens": 16, "overlap_tokens": 0}


def test_ask_json(index_dir, tiny_corpus, capsys):
    q = "How long will the dredging work take?"
    assert cli.main(["ask", q, "--index", str(index_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"question", "answer", "citations", "retrieved"} <= set(out)
    assert out["question"] == q
    assert out["answer"] is not None and out["citations"]
    for c in out["citations"]:
        assert _raw(tiny_corpus, c["doc"])[c["start"] : c["end"]] == c["text"]
        assert "duplicates" not in c
    assert out["answer"] in out["citations"][0]["text"]
    assert 0 < len(out["retrieved"]) <= 10
    titles = {"a.txt": "Harbour deal signed in Port Vesta", "b.txt": "Rail strike ends in Kessel",
              "sub/c.txt": "Drought hits Oran valley farmers"}  # first lines as headlines
    for r in out["retrieved"]:  # title, date and source were added; the other keys stay as they were
        assert set(r) == {"doc", "start", "end", "score", "title", "date", "source"}
        assert (r["title"], r["date"], r["source"]) == (titles[r["doc"]], None, None)


def test_ask_k(index_dir, capsys):
    assert cli.main(["ask", "rail strike", "--index", str(index_dir), "--json", "-k", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)["retrieved"]) == 1


def test_ask_text(index_dir, capsys):
    assert cli.main(["ask", "When will trains run again in Kessel?", "--index", str(index_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Answer: ") and "Confidence: " in out and "[1] Rail strike ends in Kessel (b.txt:" in out
    assert re.search(r"«[^»]*Monday»", out)  # piped: the answer is marked inside its sentence


def test_ask_json_says_why_an_answer_was_withheld(index_dir, capsys):
    assert cli.main(["ask", "What is the capital of Australia?", "--index", str(index_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"] is None and out["withheld"]
    assert {"question", "answer", "confidence", "citations", "retrieved"} <= set(out)


def test_format_answer_for_an_abstention_says_why():
    # formatting only: whether a question abstains is the answer scorer's business
    from ragdiplo.types import Answer

    text = cli.format_answer(Answer("What is the capital of Australia?", None, confidence=0.27), threshold=0.43)
    assert text.splitlines() == ["Answer: (withheld: confidence 0.27 below 0.43)"]
    close = cli.format_answer(Answer("Q?", None, confidence=0.61), threshold=0.43)
    assert close == "Answer: (withheld: no sentence close enough to the question)"  # no confidence to contradict it


def test_format_answer_prefers_the_reason_the_answer_carries():
    from ragdiplo.types import Answer

    withheld = Answer("Q?", None, confidence=0.9)
    object.__setattr__(withheld, "withheld", "the reader found no answer")  # the field answerers may set
    assert cli.format_answer(withheld, threshold=0.43) == "Answer: (withheld: the reader found no answer)"


def test_format_answer_lists_duplicates():
    from ragdiplo.types import Answer, Citation

    c = Citation("a.txt", 4, 9, "hello", 0.9, duplicates=(("b.txt", 1, 6),))
    lines = cli.format_answer(Answer("Q?", "hello", (c,), confidence=0.8)).splitlines()
    assert lines == ["Answer: hello", "Confidence: 0.80", "[1] a.txt:4-9", "    also at b.txt:1-6"]


SENTENCE = "Officials said the dredging work will take 18 months to finish, after a long delay in the port."


def _short_answer():
    from ragdiplo.types import Answer, Citation

    start = 100
    cited = Citation("a.txt", start, start + len(SENTENCE), SENTENCE, 0.9)
    other = Citation("b.txt", 5, 5 + 23, "It takes 18 months now.", 0.5)
    return Answer("How long?", "18 months", (cited, other), confidence=0.87, sentence=SENTENCE)


def test_short_answer_is_marked_inside_its_sentence_when_piped():
    from ragdiplo.cli.format import Style

    lines = cli.format_answer(_short_answer(), style=Style(color=False, width=200)).splitlines()
    assert lines[:3] == ["Answer: 18 months", "Confidence: 0.87", "[1] a.txt:100-195"]
    assert lines[3] == "    Officials said the dredging work will take «18 months» to finish, after a long delay in the port."
    assert lines[5] == "    It takes «18 months» now."
    assert "\x1b" not in "\n".join(lines)


def test_colour_on_a_terminal_and_no_colour_with_no_color(monkeypatch):
    from ragdiplo.cli.format import HIGHLIGHT, RESET, Style, style_for

    coloured = cli.format_answer(_short_answer(), style=Style(color=True, width=200))
    assert f"take {HIGHLIGHT}18 months{RESET} to finish" in coloured and "«" not in coloured

    class Terminal:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert style_for(Terminal()).color
    monkeypatch.setenv("NO_COLOR", "1")
    assert not style_for(Terminal()).color
    assert not style_for(object()).color  # piped: plain markers


def test_a_sentence_answer_is_printed_once_and_titles_name_documents():
    from ragdiplo.types import Answer, Citation

    cited = Citation("a.txt", 0, len(SENTENCE), SENTENCE, 0.9)
    text = cli.format_answer(Answer("Q?", SENTENCE, (cited,), confidence=0.7), title={"a.txt": "Harbour deal"}.get)
    assert text.count("dredging work") == 1
    assert "[1] Harbour deal (a.txt:0-95)" in text


def test_long_lines_wrap_at_word_boundaries_to_the_width():
    from ragdiplo.cli.format import Style

    text = cli.format_answer(_short_answer(), style=Style(color=False, width=40))
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines), lines
    words = " ".join(line.strip() for line in lines[3:6])
    assert "Officials said the dredging work will take «18 months» to finish, after a long delay" in words


def test_eval_writes_one_line_per_question(index_dir, tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    rows = [
        {"id": "g1", "question": "How long will the dredging work take?", "answers": ["18 months"],
         "evidence": [{"doc": "a.txt", "quote": "will take 18 months to finish"}]},
        {"id": "g2", "question": "When will trains run again in Kessel?", "answers": ["Monday"],
         "evidence": [{"doc": "b.txt", "quote": "Trains will run again on Monday"}]},
        {"id": "g3", "question": "What is the capital of Australia?", "answers": [], "evidence": []},
    ]
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "P.jsonl"
    assert cli.main(["eval", str(gold), "--index", str(index_dir), "--out", str(out), "-q"]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    preds = [json.loads(line) for line in lines]
    assert [p["id"] for p in preds] == ["g1", "g2", "g3"]
    for p in preds:
        assert {"id", "question", "answer", "citations", "retrieved", "latency_ms"} <= set(p)
    stdout = capsys.readouterr().out
    assert "hit@1" in stdout and "abstention_accuracy" in stdout


def test_eval_with_a_temporary_corpus_index(tiny_corpus, tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "g1", "question": "When will trains run again in Kessel?", "answers": ["Monday"],
                                "evidence": [{"doc": "b.txt", "quote": "Trains will run again on Monday"}]}) + "\n")
    out = tmp_path / "P.jsonl"
    assert cli.main(["eval", str(gold), "--corpus", str(tiny_corpus), "--out", str(out), "-q"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("ragdiplo: error:")
    assert "Traceback" not in captured.err
    return lines[0]


def test_missing_corpus_exits_2(tmp_path, capsys):
    assert cli.main(["index", str(tmp_path / "nope"), "--index", str(tmp_path / "i"), "-q"]) == 2
    assert "nope" in _one_line_error(capsys)
    assert not (tmp_path / "i" / "manifest.json").exists()


def test_missing_index_exits_2(tmp_path, capsys):
    assert cli.main(["ask", "Who?", "--index", str(tmp_path / "none")]) == 2
    assert "ragdiplo index" in _one_line_error(capsys)


def test_index_path_that_is_a_file_exits_2(tmp_path, capsys):
    f = tmp_path / "idx"
    f.write_text("x")
    assert cli.main(["ask", "Who?", "--index", str(f)]) == 2
    _one_line_error(capsys)


def test_empty_question_exits_2(index_dir, capsys):
    assert cli.main(["ask", "  ", "--index", str(index_dir)]) == 2
    _one_line_error(capsys)


def test_k_zero_exits_2(index_dir, capsys):
    assert cli.main(["ask", "Who?", "--index", str(index_dir), "-k", "0"]) == 2
    _one_line_error(capsys)


def test_index_built_with_another_model_exits_2(index_dir, capsys, monkeypatch):
    from conftest import OtherModelEmbedder

    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: OtherModelEmbedder())
    assert cli.main(["ask", "Who?", "--index", str(index_dir)]) == 2
    assert "rebuild" in _one_line_error(capsys)


def test_quote_not_in_corpus_exits_2(index_dir, tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "x", "question": "Q?", "answers": ["a"],
                                "evidence": [{"doc": "a.txt", "quote": "not in the text"}]}) + "\n")
    assert cli.main(["eval", str(gold), "--index", str(index_dir), "-q"]) == 2
    _one_line_error(capsys)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("ragdiplo ")


def test_overlap_alone_is_honoured(tiny_corpus, tmp_path):
    out = tmp_path / "i"
    assert cli.main(["index", str(tiny_corpus), "--index", str(out), "--overlap", "0", "-q"]) == 0
    assert json.loads((out / "manifest.json").read_text())["chunker"]["overlap_tokens"] == 0


@pytest.mark.parametrize(
    "options", [["--max-tokens", "4"], ["--max-tokens", "16", "--overlap", "16"], ["--max-tokens", "1000"]]
)
def test_bad_chunker_options_exit_2(tiny_corpus, tmp_path, capsys, options):
    assert cli.main(["index", str(tiny_corpus), "--index", str(tmp_path / "i"), "-q", *options]) == 2
    _one_line_error(capsys)
    assert not (tmp_path / "i").exists()


@pytest.mark.parametrize("content", [None, "{not json\n", '{"id": "x"}\n'], ids=["missing", "bad-json", "no-question"])
def test_bad_gold_file_exits_2(index_dir, tmp_path, capsys, content):
    gold = tmp_path / "gold.jsonl"
    if content is not None:
        gold.write_text(content, encoding="utf-8")
    assert cli.main(["eval", str(gold), "--index", str(index_dir), "-q"]) == 2
    _one_line_error(capsys)


def test_a_closed_stdout_pipe_stops_quietly(monkeypatch, capsys):
    def broken(args):
        raise BrokenPipeError

    monkeypatch.setattr(cli, "cmd_ask", broken)
    assert cli.main(["ask", "anything"]) == 141
    assert "Traceback" not in capsys.readouterr().err


def test_bare_ragdiplo_prints_the_help(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ragdiplo") and "ask" in out and "examples:" in out


def _subcommands():
    import argparse

    p = cli.parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("name", ["index", "ask", "eval", "repl"])
def test_every_option_says_its_default_and_the_help_ends_with_examples(name, capsys):
    sp = _subcommands()[name]
    for action in sp._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{name} {action.dest} has no help"
        if action.option_strings:
            assert "default" in action.help, f"{name} {action.option_strings[0]}: {action.help}"
    with pytest.raises(SystemExit):
        cli.main([name, "-h"])
    out = capsys.readouterr().out
    assert "relative to the current folder" in " ".join(out.split())
    examples = out.split("examples:\n", 1)[1].splitlines()
    assert 2 <= sum(line.startswith("  ragdiplo ") for line in examples) <= 3, out


def test_eval_says_where_it_wrote_each_file(index_dir, tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "g1", "question": "When will trains run again in Kessel?", "answers": ["Monday"],
                                "evidence": [{"doc": "b.txt", "quote": "Trains will run again on Monday"}]}) + "\n")
    paths = {opt: tmp_path / name for opt, name in [("--out", "p.jsonl"), ("--json", "m.json"), ("--report", "r.html")]}
    argv = ["eval", str(gold), "--index", str(index_dir)] + [x for opt, path in paths.items() for x in (opt, str(path))]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert f"wrote 1 predictions to {paths['--out']}" in err
    assert f"wrote metrics, settings and per-question outcomes to {paths['--json']}" in err
    assert f"wrote the HTML report to {paths['--report']}" in err
    assert all(path.is_file() for path in paths.values())
