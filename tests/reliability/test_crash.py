"""Crash safety: a writer killed with SIGKILL at any moment leaves the old index
or the new one, never a mix, and the next writer cleans up after it."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

from ragdiplo.errors import IndexWriteError
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.load import load_index

from .helpers import assert_same_index, child, news_docs, snapshot

ROUNDS = 20  # at least 20 kills a run


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two different moderately sized indexes (A, B), each saved in its own folder."""
    embedder = FakeEmbedder()
    docs = news_docs(150, seed=1)
    a = build_index(docs, embedder)
    b = build_index(docs[20:] + news_docs(30, seed=2, prefix="new"), embedder)
    base = tmp_path_factory.mktemp("pair")
    return a, b, save_index(a, base / "a"), save_index(b, base / "b")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_kill_9_during_saves_leaves_old_or_new_index(pair, tmp_path):
    """Each round a fresh writer process saves the other index of the pair, then
    the first again, and so on, and is killed with SIGKILL after a random delay;
    the folder must then load as exactly the old index or exactly the new one.
    The writers are forked from one helper process that has already imported
    ragdiplo, so a round costs milliseconds."""
    a, b, src_a, src_b = pair
    indexes = {"a": a, "b": b}
    root = save_index(a, tmp_path / "idx")
    start = time.perf_counter()
    save_index(b, tmp_path / "timing")
    # a first guess at a save's length; it then adapts to how fast the writers really are (a loaded or
    # slower machine saves more slowly): longer after a kill that left the old index, shorter after a new one
    window = 4 * (time.perf_counter() - start)
    rng = random.Random(20240605)
    current, outcomes, interrupted = "a", {"old": 0, "new": 0}, 0
    forker = child("forker", root, src_a, src_b)
    assert forker.stdin is not None and forker.stdout is not None
    try:
        assert forker.stdout.readline().strip() == "ready"
        for _ in range(ROUNDS):
            new = "b" if current == "a" else "a"
            forker.stdin.write(f"fork {new}\n")
            forker.stdin.flush()
            pid = int(forker.stdout.readline())
            time.sleep(rng.uniform(0, window))
            os.kill(pid, signal.SIGKILL)
            assert int(forker.stdout.readline()) == -signal.SIGKILL
            interrupted += bool(list(root.glob(".tmp-*")) + list(root.glob("data-*"))[1:])
            loaded = load_index(root)
            name = current if loaded.manifest["corpus_sha256"] == indexes[current].manifest["corpus_sha256"] else new
            assert_same_index(loaded, indexes[name], FakeEmbedder())
            outcomes["old" if name == current else "new"] += 1
            window *= 1.6 if name == current else 0.7
            current = name
    finally:
        forker.stdin.close()
        forker.wait(timeout=30)
    # most kills landed inside a save (debris left behind), and both outcomes happened
    assert interrupted >= ROUNDS // 4, (interrupted, outcomes)
    assert outcomes["old"] and outcomes["new"], outcomes
    save_index(a, root)  # the next writer removes what the killed ones left
    assert not list(root.glob(".tmp-*")) and len(list(root.glob("data-*"))) == 1
    assert_same_index(load_index(root), a, FakeEmbedder())


def test_half_deleted_generation_is_not_reused(pair, tmp_path):
    """A writer killed while deleting an old generation leaves it half gone; a
    later save of that same data must write it again, not point at the rest."""
    a, b, _, _ = pair
    root = save_index(b, tmp_path / "idx")
    old = root / json.loads((root / MANIFEST).read_text())["data"]
    save_index(a, root)
    old.mkdir()  # recreate B's generation name, half empty, beside A
    (old / "documents.jsonl").write_text("partial")
    save_index(b, root)
    assert len(list(root.glob("data-*"))) == 1
    assert_same_index(load_index(root), b, FakeEmbedder())


def test_failed_write_keeps_the_old_index(pair, tmp_path, monkeypatch):
    """A full disk (or any write error) mid-save: a clear error, the old index intact, no debris."""
    a, b, _, _ = pair
    root = save_index(a, tmp_path / "idx")
    before = snapshot(root)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", full_disk)
    with pytest.raises(IndexWriteError, match="No space left on device.*existing index is unchanged"):
        save_index(b, root)
    assert snapshot(root) == before
    assert not list(root.glob(".tmp-*"))
    monkeypatch.undo()
    assert_same_index(load_index(root), a, FakeEmbedder())


def test_save_fsyncs_data_before_the_manifest_swap(pair, tmp_path, monkeypatch):
    """Order of durability: every data file is fsynced before the manifest names it."""
    a, _, _, _ = pair
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync:" + os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1])
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append("replace:" + Path(dst).name)
        real_replace(src, dst)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name file descriptors")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save_index(a, tmp_path / "idx")
    swap = events.index("replace:" + MANIFEST)
    synced = {e.split(":", 1)[1] for e in events[:swap] if e.startswith("fsync:")}
    assert {"documents.jsonl", "passages.npy", "passage_vectors.npy", "passages.faiss"} <= synced
    assert any(e.startswith("fsync:") for e in events[swap + 1 :]), "the folder is fsynced after the swap"
