"""Every file the command line reads gets the checks corpus files get: a regular
file (a FIFO would block forever, a device like ``/dev/zero`` fill memory) no
larger than a cap, checked before anything is read. Metadata sidecars, gold
files (JSONL, SQuAD, BEIR) and compared runs; each refusal is one line.

Cases that would hang or exhaust memory if the check regressed run in a child
process, under a timeout and an address-space limit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_datasets import beir_fixture

import ragdiplo.ingest.corpus as corpus_module

from .helpers import child, one_line_error
from .helpers import refused as _fails
from .helpers import run_cli as _run

QUESTION = "Who signed the harbour deal?"
GOLD = {"id": "q1", "question": QUESTION, "answers": ["Ilse Marten"],
        "evidence": [{"doc": "a.txt", "quote": "signed a harbour deal worth $40 million"}]}  # fmt: skip
LIMITED = ("prlimit", "--as=4000000000", "--")  # a regression fails with MemoryError, not by taking the machine's memory


def _child_fails(*argv: object) -> str:
    proc = child("cli", *argv, prefix=LIMITED)
    try:
        _, err = proc.communicate(timeout=60)
    except Exception:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 2, err
    return one_line_error(err)


def _gold(tmp_path: Path) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(GOLD) + "\n")
    return path


@pytest.fixture
def fifo(tmp_path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    path = tmp_path / "pipe.jsonl"
    os.mkfifo(path)
    return path


@pytest.fixture
def result_file(cli_index, tmp_path, capsys) -> Path:
    path = tmp_path / "run.json"
    assert _run(capsys, "eval", _gold(tmp_path), "--index", cli_index, "-q", "--json", path)[0] == 0
    return path


# -- metadata sidecars --------------------------------------------------------------------------


def test_a_fifo_as_metadata_is_one_line_not_a_hang(tiny_corpus, tmp_path, fifo):
    line = _child_fails("index", tiny_corpus, "--index", tmp_path / "i", "--metadata", fifo)
    assert str(fifo) in line and "not a regular file" in line
    assert not (tmp_path / "i").exists()


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_as_metadata_is_one_line(tiny_corpus, tmp_path, device):
    line = _child_fails("index", tiny_corpus, "--index", tmp_path / "i", "--metadata", device)
    assert device in line and "not a regular file" in line


def test_metadata_over_the_size_cap_is_one_line(tiny_corpus, tmp_path, capsys, monkeypatch):
    sidecar = tmp_path / "meta.jsonl"
    sidecar.write_text('{"id": "a.txt", "source": "Vesta Post"}\n')
    monkeypatch.setattr(corpus_module, "MAX_FILE_BYTES", 20)
    line = _fails(capsys, "index", tiny_corpus, "--index", tmp_path / "i", "--metadata", sidecar)
    assert str(sidecar) in line and "over the limit of 20 bytes" in line


# -- gold inputs ----------------------------------------------------------------------------------


def test_a_fifo_as_gold_is_one_line(cli_index, fifo, capsys):
    line = _fails(capsys, "eval", fifo, "--index", cli_index)
    assert str(fifo) in line and "not a regular file" in line


def test_a_fifo_in_a_beir_folder_is_one_line(tmp_path, capsys):
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    beir = beir_fixture(tmp_path)
    (beir / "queries.jsonl").unlink()
    os.mkfifo(beir / "queries.jsonl")
    line = _fails(capsys, "eval", beir)
    assert "queries.jsonl" in line and "not a regular file" in line


@pytest.mark.parametrize("kind", ["jsonl", "squad", "beir"])
def test_gold_over_the_size_cap_is_one_line(cli_index, tmp_path, capsys, monkeypatch, kind):
    from test_datasets import squad_fixture

    gold = {"jsonl": _gold, "squad": squad_fixture, "beir": beir_fixture}[kind](tmp_path)
    monkeypatch.setattr(corpus_module, "MAX_FILE_BYTES", 60)
    args = ["--index", cli_index] if kind == "jsonl" else []
    line = _fails(capsys, "eval", gold, *args)
    assert "over the limit of 60 bytes" in line


# -- compared runs -------------------------------------------------------------------------------


def test_a_fifo_to_compare_is_one_line_not_a_hang(result_file, fifo):
    line = _child_fails("eval", "--compare", fifo, result_file)
    assert str(fifo) in line and "not a regular file" in line


def test_a_device_to_compare_is_one_line(result_file):
    line = _child_fails("eval", "--compare", result_file, "/dev/zero")
    assert "/dev/zero" in line and "not a regular file" in line


def test_a_compared_run_over_the_size_cap_is_one_line(result_file, capsys, monkeypatch):
    monkeypatch.setattr(corpus_module, "MAX_FILE_BYTES", 100)
    line = _fails(capsys, "eval", "--compare", result_file, result_file)
    assert str(result_file) in line and "over the limit of 100 bytes" in line
