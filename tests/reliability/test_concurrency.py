"""Concurrency: one writer at a time (others wait or get a clear refusal), no lost
updates between writers, and readers that never see a half-written index."""

from __future__ import annotations

import time

import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.errors import IndexLockedError
from ragdiplo.index.build import build_index, save_index
from ragdiplo.index.load import load_index
from ragdiplo.index.update import edit_index
from ragdiplo.types import Document

from .helpers import assert_same_index, child, news_docs, one_line_error, snapshot, write_corpus


@pytest.fixture
def saved(tmp_path):
    docs = news_docs(20, seed=3)
    return save_index(build_index(docs, FakeEmbedder()), tmp_path / "idx"), write_corpus(tmp_path / "corpus", docs)


def _started(proc) -> None:
    line = proc.stdout.readline().strip()
    assert line == "ready", proc.stderr.read()


def test_second_writer_is_refused_after_its_timeout(saved, capsys):
    root, corpus = saved
    (corpus / "extra.txt").write_text("A second writer wants to add this bridge story.", encoding="utf-8")
    before = snapshot(root)
    holder = child("hold-lock", root, "30")
    try:
        _started(holder)
        start = time.monotonic()
        code = cli.main(["index", str(corpus), "--index", str(root), "--lock-timeout", "0.5", "-q"])
        waited = time.monotonic() - start
    finally:
        holder.kill()
        holder.communicate()
    assert code == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(root / "write.lock") in line and "another process is writing" in line and "--lock-timeout" in line
    assert 0.4 < waited < 10
    assert snapshot(root) == before


def test_second_writer_waits_for_the_first(saved, capsys):
    root, corpus = saved
    (corpus / "extra.txt").write_text("Written once the other writer is done.", encoding="utf-8")
    holder = child("hold-lock", root, "1.0")
    _started(holder)
    start = time.monotonic()
    assert cli.main(["index", str(corpus), "--index", str(root), "--lock-timeout", "60"]) == 0
    waited = time.monotonic() - start
    holder.communicate(timeout=30)
    assert waited > 0.5, "the writer must have waited for the lock"
    assert "1 added" in capsys.readouterr().err
    assert "extra.txt" in load_index(root).ids


def test_library_writers_share_the_lock(saved):
    root, _ = saved
    holder = child("hold-lock", root, "30")
    try:
        _started(holder)
        with pytest.raises(IndexLockedError, match="write.lock"):
            save_index(load_index(root), root, lock_timeout=0.2)
        with pytest.raises(IndexLockedError), edit_index(root, FakeEmbedder(), lock_timeout=0.2):
            pass
    finally:
        holder.kill()
        holder.communicate()


def test_concurrent_writers_lose_no_update(saved):
    """Two processes each add documents one at a time (a locked read-modify-write
    each); every addition survives."""
    root, _ = saved
    writers = [child("add", root, name, "6") for name in ("left", "right")]
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    ids = set(load_index(root).ids)
    assert {f"{name}-{i}.txt" for name in ("left", "right") for i in range(6)} <= ids
    assert len(ids) == 20 + 12


def test_readers_see_old_or_new_while_a_writer_saves(tmp_path):
    """Readers take no lock; while another process keeps replacing the index,
    every load returns one complete version (a deleted generation is retried)."""
    embedder = FakeEmbedder()
    docs = news_docs(60, seed=4)
    a = build_index(docs, embedder)
    b = build_index(docs[10:] + [Document("late.txt", "A late story about the ferry strike.")], embedder)
    src_a, src_b = save_index(a, tmp_path / "a"), save_index(b, tmp_path / "b")
    root = save_index(a, tmp_path / "idx")
    writer = child("save-loop", root, src_a, src_b)
    seen = {"a": 0, "b": 0}
    try:
        _started(writer)
        # read for at least 2 s, and on a busy machine until both versions were seen (at most 60 s)
        start = time.monotonic()
        while time.monotonic() - start < 2.0 or (not (seen["a"] and seen["b"]) and time.monotonic() - start < 60.0):
            loaded = load_index(root)
            name = "a" if loaded.manifest["corpus_sha256"] == a.manifest["corpus_sha256"] else "b"
            assert_same_index(loaded, a if name == "a" else b, embedder)
            seen[name] += 1
    finally:
        writer.kill()
        writer.communicate()
    assert seen["a"] and seen["b"], seen
