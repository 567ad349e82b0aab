"""A first run that explains itself: the one-time preparation of the embedding
model says so on stderr (once, never under -q), and ``ragdiplo index`` names
each stage of a build, out of its total. The fake embedder stands in for the
model; the export's cache check is the real one, its torch export a stand-in."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
import ragdiplo.cli.progress as progress
from ragdiplo.embed import export

PREPARING = "ragdiplo: preparing the embedding model for this machine"
STAGE = re.compile(r"^\[(\d+)/(\d+)\] (.*)$", re.M)


@pytest.fixture(autouse=True)
def terminal(monkeypatch):
    """A person watching: stderr is a terminal (progress and notices are shown only then)."""
    monkeypatch.setattr(progress, "on_terminal", lambda: True)


@pytest.fixture
def exports(tmp_path, monkeypatch) -> list[Path]:
    """A model folder whose export is made by a stand-in (a few bytes, recorded
    as a real one is) in a cache of this test's own; the CLI's embedder asks
    for that export as the real ones do, then embeds with the fake. Returns the
    folders exported so far."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "config.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("RAGDIPLO_CACHE", str(tmp_path / "cache"))
    made: list[Path] = []

    def stand_in(folder: Path, target: Path, source: dict) -> None:
        made.append(folder)
        export._write_atomically(target, export.ONNX_FILE, export.RECORD, source,
                                 lambda tmp: Path(tmp).write_bytes(b"graph"))

    def embedder(args, model_id=None) -> FakeEmbedder:
        export.ensure_export(model)
        return FakeEmbedder()

    monkeypatch.setattr(export, "_export", stand_in)
    monkeypatch.setattr(cli, "_embedder", embedder)
    return made


def test_the_first_run_says_once_that_it_prepares_the_model(exports, tiny_corpus, tmp_path, capsys):
    index = str(tmp_path / "idx")
    assert cli.main(["index", str(tiny_corpus), "--index", index]) == 0
    err = capsys.readouterr().err
    assert err.count(PREPARING) == 1 and len(exports) == 1
    line = next(x for x in err.splitlines() if x.startswith(PREPARING))
    assert "once" in line and str(tmp_path / "cache") in line
    # the second run finds the export: it is neither made again nor announced
    assert cli.main(["ask", "Who signed the harbour deal?", "--rules", "--index", index]) == 0
    assert PREPARING not in capsys.readouterr().err and len(exports) == 1
    assert cli.main(["index", str(tiny_corpus), "--index", index]) == 0
    assert PREPARING not in capsys.readouterr().err and len(exports) == 1


def test_the_line_follows_the_cache_check_and_quiet_silences_it(exports, tiny_corpus, tmp_path, capsys, monkeypatch):
    index = str(tmp_path / "idx")
    assert cli.main(["index", str(tiny_corpus), "--index", index, "-q"]) == 0
    assert capsys.readouterr().err == "" and len(exports) == 1  # prepared, silently
    monkeypatch.setattr(export, "_valid", lambda target, source: False)  # the export is missing or damaged again
    assert cli.main(["ask", "Who signed the harbour deal?", "--rules", "--index", index]) == 0
    assert capsys.readouterr().err.count(PREPARING) == 1 and len(exports) == 2
    assert cli.main(["ask", "Who signed the harbour deal?", "--rules", "--index", index, "-q"]) == 0
    assert PREPARING not in capsys.readouterr().err and len(exports) == 3


def test_the_library_logs_the_preparation_and_the_cli_leaves_logging_as_it_was(exports, tiny_corpus, tmp_path,
                                                                               caplog):
    logger = logging.getLogger("ragdiplo")
    before = (logger.level, list(logger.handlers))
    with caplog.at_level(logging.INFO, logger="ragdiplo.embed.export"):
        cli._embedder(None)
        cli._embedder(None)
    assert [r.getMessage().startswith(export.PREPARING.split(" (")[0]) for r in caplog.records] == [True]
    assert cli.main(["index", str(tiny_corpus), "--index", str(tmp_path / "idx")]) == 0
    assert (logger.level, list(logger.handlers)) == before


def _stages(err: str) -> list[tuple[int, int, str]]:
    return [(int(n), int(total), what) for n, total, what in STAGE.findall(err)]


def test_index_names_every_stage_and_ends_at_its_total(tiny_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    index = tmp_path / "new-folder"
    assert cli.main(["index", str(tiny_corpus), "--index", str(index)]) == 0
    err = capsys.readouterr().err
    stages = _stages(err)
    assert [(n, total) for n, total, _ in stages] == [(n, 5) for n in range(1, 6)]
    words = [what.split()[0] for _, _, what in stages]
    assert words == ["reading", "loading", "opening", "chunking", "saving"]
    assert str(tiny_corpus) in stages[0][2] and "embedding model" in stages[1][2] and "embedding" in stages[3][2]
    assert stages[4][2] == f"saving {index}/"
    # the stages come first, in order, and the summary after the last one
    lines = err.splitlines()
    assert lines.index(f"[5/5] saving {index}/") < next(i for i, x in enumerate(lines) if x.startswith("indexed 3"))
    # run again: nothing changed, so the last stage says there is nothing to save
    assert cli.main(["index", str(tiny_corpus), "--index", str(index)]) == 0
    again = _stages(capsys.readouterr().err)
    assert [n for n, _, _ in again] == [1, 2, 3, 4, 5] and again[-1][2] == f"{index}/ is up to date: nothing to save"


def test_an_index_built_in_memory_has_three_stages_and_quiet_prints_none(tiny_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "g1", "question": "When will trains run again in Kessel?", "answers": ["Monday"], '
                    '"evidence": [{"doc": "b.txt", "quote": "Trains will run again on Monday"}]}\n', encoding="utf-8")
    assert cli.main(["eval", str(gold), "--corpus", str(tiny_corpus)]) == 0
    stages = _stages(capsys.readouterr().err)
    assert [(n, total) for n, total, _ in stages] == [(1, 3), (2, 3), (3, 3)]
    assert cli.main(["index", str(tiny_corpus), "--index", str(tmp_path / "i"), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_nothing_but_the_summary_when_stderr_is_not_a_terminal(exports, tiny_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    assert cli.main(["index", str(tiny_corpus), "--index", str(tmp_path / "idx")]) == 0
    err = capsys.readouterr().err
    assert PREPARING not in err and not STAGE.search(err)
    assert "indexed 3 documents as" in err
