"""What the command line writes: never over one of its own inputs, never by
replacing a device, a FIFO or a symlink, and a full disk is one line.

Every output option (``eval --out/--json/--report/--run``, the folder ``index
--index`` writes) is checked against every input of the run (the gold file, the
corpus, the metadata file, the index folder, compared runs) by resolved path, so
a symlink or a ``../`` detour names the input it leads to."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from test_datasets import beir_fixture

import ragdiplo.eval.run as eval_run

from .helpers import child, one_line_error, snapshot
from .helpers import refused as _fails
from .helpers import run_cli as _run

QUESTION = "Who signed the harbour deal?"
GOLD = {"id": "q1", "question": QUESTION, "answers": ["Ilse Marten"],
        "evidence": [{"doc": "a.txt", "quote": "signed a harbour deal worth $40 million"}]}  # fmt: skip


def _gold(tmp_path: Path) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(GOLD) + "\n")
    return path


def _files(*roots: Path) -> dict[str, bytes]:
    """Every file under ``roots`` (or the file itself), to prove nothing was written."""
    out = {}
    for root in roots:
        out.update({str(root): root.read_bytes()} if root.is_file() else {str(k): v for k, v in snapshot(root).items()})
    return out


@pytest.fixture
def nothing_answered(monkeypatch):
    monkeypatch.setattr(eval_run, "predict", lambda *a, **k: pytest.fail("questions were answered"))


# -- item 1: an output that is an input ---------------------------------------------------------


def _eval_gold_over_gold(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    return ["eval", t / "gold.jsonl", "--index", idx, "--out", t / "gold.jsonl"], "the gold file"


def _json_over_manifest(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    return ["eval", t / "gold.jsonl", "--index", idx, "--json", idx / "manifest.json"], "the index folder"


def _report_over_article(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    return ["eval", t / "gold.jsonl", "--corpus", corpus, "--report", corpus / "a.txt"], "the corpus"


def _new_file_in_index(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    return ["eval", t / "gold.jsonl", "--index", idx, "--out", idx / "predictions.jsonl"], "the index folder"


def _dotdot_detour(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    (t / "elsewhere").mkdir()
    return ["eval", t / "gold.jsonl", "--index", idx, "--json", t / "elsewhere" / ".." / "gold.jsonl"], "the gold file"


def _symlink_to_gold(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    (t / "link.jsonl").symlink_to(t / "gold.jsonl")
    return ["eval", t / "gold.jsonl", "--index", idx, "--out", t / "link.jsonl"], "the gold file"


def _symlinked_folder_into_corpus(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    (t / "door").symlink_to(corpus / "sub")
    return ["eval", t / "gold.jsonl", "--corpus", corpus, "--json", t / "door" / "c.txt"], "the corpus"


def _metadata_file(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    (t / "meta.jsonl").write_text('{"id": "a.txt", "source": "Vesta Post"}\n')
    return ["eval", t / "gold.jsonl", "--corpus", corpus, "--metadata", t / "meta.jsonl",
            "--report", t / "meta.jsonl"], "the metadata file"  # fmt: skip


def _compared_run(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    (t / "a.json").write_text('{"format": "ragdiplo-eval"}')
    return ["eval", "--compare", t / "a.json", t / "a.json", "--json", t / "a.json"], "a compared run"


def _beir_run_over_queries(t: Path, idx: Path, corpus: Path) -> tuple[list[object], str]:
    beir = beir_fixture(t)
    return ["eval", beir, "--run", beir / "queries.jsonl"], "the gold folder"


@pytest.mark.parametrize(
    "case",
    [_eval_gold_over_gold, _json_over_manifest, _report_over_article, _new_file_in_index, _dotdot_detour,
     _symlink_to_gold, _symlinked_folder_into_corpus, _metadata_file, _compared_run, _beir_run_over_queries],
    ids=["out-is-gold", "json-is-manifest", "report-is-article", "out-inside-index", "dotdot-to-gold",
         "symlink-to-gold", "symlinked-folder-into-corpus", "report-is-metadata", "json-is-compared-run",
         "beir-run-is-queries"],
)  # fmt: skip
def test_an_output_that_is_an_input_is_refused(cli_index, tiny_corpus, tmp_path, capsys, nothing_answered, case):
    _gold(tmp_path)
    argv, what = case(tmp_path, cli_index, tiny_corpus)
    before = _files(tmp_path)
    line = _fails(capsys, *argv)
    assert what in line and "input" in line, line
    assert _files(tmp_path) == before


@pytest.mark.parametrize("where", ["same", "parent"])
def test_index_folder_holding_the_corpus_is_refused(tmp_path, capsys, where):
    """Writing an index removes stray ``data-*`` folders of its folder: one of the corpus would go."""
    corpus = tmp_path / "news"
    (corpus / "data-2024").mkdir(parents=True)
    (corpus / "data-2024" / "a.txt").write_text("The harbour deal was signed on Tuesday in Port Vesta.")
    before = _files(tmp_path)
    index = corpus if where == "same" else tmp_path
    line = _fails(capsys, "index", corpus, "--index", index)
    assert "--index" in line and "corpus" in line
    assert _files(tmp_path) == before


# -- item 2: devices, FIFOs and symlinks are written, never replaced -------------------------------


@pytest.fixture
def dev_guarded(monkeypatch):
    """Should writing ever regress to a rename over a device, it fails here instead of replacing one."""
    replace = os.replace

    def guarded(src, dst, *args, **kwargs):
        if os.path.abspath(dst).startswith("/dev/"):
            pytest.fail(f"a rename over {dst}")
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", guarded)


def test_a_symlink_to_a_device_is_written_through_and_kept(cli_index, tmp_path, capsys, dev_guarded):
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    code, _, err = _run(capsys, "eval", _gold(tmp_path), "--index", cli_index, "-q", "--json", link)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_device_is_written_in_place(cli_index, tmp_path, capsys, dev_guarded):
    """``--out /dev/null --json /dev/null``: both written, nothing replaced (naming one device twice is fine)."""
    code, _, err = _run(capsys, "eval", _gold(tmp_path), "--index", cli_index, "-q",
                        "--out", "/dev/null", "--json", "/dev/null", "--report", "/dev/null")  # fmt: skip
    assert code == 0, err
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_a_symlink_to_a_regular_file_keeps_the_link(cli_index, tmp_path, capsys):
    """The file the link names is written (atomically); the link itself stays a link."""
    real = tmp_path / "real" / "predictions.jsonl"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "p.jsonl"
    link.symlink_to(real)
    code, _, err = _run(capsys, "eval", _gold(tmp_path), "--index", cli_index, "-q", "--out", link)
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert json.loads(real.read_text().splitlines()[0])["id"] == "q1"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_written_not_replaced(cli_index, tmp_path, capsys):
    fifo = tmp_path / "metrics.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader waits, so opening for writing does not block
    try:
        code, _, err = _run(capsys, "eval", _gold(tmp_path), "--index", cli_index, "-q", "--json", fifo)
        data = b""
        while chunk := os.read(reader, 1 << 16):
            data += chunk
    except BlockingIOError:
        pass
    finally:
        os.close(reader)
    assert code == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(data)["format"] == "ragdiplo-eval"


def test_a_symlink_to_the_process_stdout_writes_to_stdout(cli_index, tmp_path):
    """As ``--json /dev/stdout`` does: the link leads to this process's own standard output."""
    link = tmp_path / "stdout.json"
    link.symlink_to("/proc/self/fd/1")
    proc = child("cli", "eval", _gold(tmp_path), "--index", cli_index, "-q", "--json", link)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    document, metrics = out.split("\n}\n", 1)
    assert json.loads(document + "\n}")["format"] == "ragdiplo-eval"
    assert "hit@1" in metrics


# -- item 5: a full disk while writing an output ----------------------------------------------------


@pytest.mark.parametrize("through_a_link", [True, False], ids=["symlink", "device"])
def test_report_on_a_full_device_is_one_line(cli_index, tmp_path, capsys, dev_guarded, through_a_link):
    """/dev/full fails every write with ENOSPC, as a full disk does."""
    report = tmp_path / "report.html" if through_a_link else Path("/dev/full")
    if through_a_link:
        report.symlink_to("/dev/full")
    line = _fails(capsys, "eval", _gold(tmp_path), "--index", cli_index, "-q", "--report", report)
    assert "No space left on device" in line and str(report) in line
    assert report.is_symlink() if through_a_link else stat.S_ISCHR(os.lstat(report).st_mode)


def test_an_output_larger_than_the_file_size_limit_is_one_line(cli_index, tmp_path):
    """A real write error on a regular file: RLIMIT_FSIZE makes writes past 4 KiB fail (EFBIG)."""
    report = tmp_path / "report.html"
    proc = child("cli", "eval", _gold(tmp_path), "--index", cli_index, "-q", "--report", report,
                 prefix=("prlimit", "--fsize=4096", "--"))  # fmt: skip
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    line = one_line_error(err)
    assert "--report" in line or str(report) in line
    assert not report.exists() and not list(tmp_path.glob(".tmp-*"))
