"""Concurrency: one writer at a time (others wait or get a clear refusal), no lost
updates between writers, and readers that never see a half-written index."""

from __future__ import annotations

import threading
import time

import filelock
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
    holder = child("hold-lock", root)
    try:
        _started(holder)
        code = cli.main(["index", str(corpus), "--index", str(root), "--lock-timeout", "0.5", "-q"])
    finally:
        holder.kill()
        holder.communicate()
    assert code == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(root / "write.lock") in line and "another process is writing" in line and "--lock-timeout" in line
    assert "waited 0.5 s" in line  # it gave up at its timeout, not at once
    assert snapshot(root) == before


def test_second_writer_waits_for_the_first(saved, capsys, monkeypatch):
    root, corpus = saved
    (corpus / "extra.txt").write_text("Written once the other writer is done.", encoding="utf-8")
    holder = child("hold-lock", root)
    _started(holder)
    refused = threading.Event()
    attempt = filelock.FileLock._acquire

    def noting(lock):  # one try of the second writer to take the lock, seen from inside
        attempt(lock)
        if not lock.is_locked:
            refused.set()

    monkeypatch.setattr(filelock.FileLock, "_acquire", noting)
    codes = []
    writer = threading.Thread(target=lambda: codes.append(
        cli.main(["index", str(corpus), "--index", str(root), "--lock-timeout", "60"])))
    writer.start()
    try:
        assert refused.wait(60), "the second writer was never refused the lock"
    finally:  # the first writer lets go only now
        assert holder.communicate("done\n", timeout=60)[0].split() == ["released"]
    writer.join(60)
    assert codes == [0], "the second writer took the lock once it was free"
    assert "1 added" in capsys.readouterr().err
    assert "extra.txt" in load_index(root).ids


def test_library_writers_share_the_lock(saved):
    root, _ = saved
    holder = child("hold-lock", root)
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
