"""Faults of the disk and the file system (disk full, a failed last step,
permissions), the manifest's own checksum, and what reading crafted files does.

Where a fault cannot be made for real in a test (a full disk; a permission root
cannot lose), it is made as close to real as the test can: the disk-full cases
write to ``/dev/full``, which fails every write with ENOSPC like a full disk;
permission cases remove the permission for real when the tests run as a user who
can lose it, and raise the ``PermissionError`` the kernel would give otherwise
(root reads every file, so there a monkeypatch stands in for the kernel).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.errors import IndexLoadError
from ragdiplo.index.build import MANIFEST
from ragdiplo.index.load import load_index, read_manifest

from .helpers import one_line_error, snapshot
from .helpers import run_cli as _run

# -- item 11: the manifest's own checksum --------------------------------------------------------


def test_one_bit_flips_of_the_manifest_are_refused(cli_index):
    """A bit of every byte of the manifest flipped in turn (byte i, bit i mod 8, so
    every bit position is tried; all 8 bits of every byte: docs/reliability.md):
    refused, or (whitespace only) the very same content; never a changed setting
    taken at face value."""
    original = (cli_index / MANIFEST).read_bytes()
    content = json.loads(original)
    accepted = changed = 0
    for i in range(len(original)):
        flipped = bytearray(original)
        flipped[i] ^= 1 << (i % 8)
        (cli_index / MANIFEST).write_bytes(bytes(flipped))
        try:
            manifest = read_manifest(cli_index)
        except IndexLoadError:
            continue
        accepted += 1
        changed += manifest != content
    assert changed == 0, f"{changed} of {accepted} accepted flips changed the manifest's content"


def test_a_changed_chunker_setting_is_refused_with_the_rebuild_command(cli_index, capsys):
    m = json.loads((cli_index / MANIFEST).read_text())
    m["chunker"]["max_tokens"] += 1  # 200 -> 201: updates would chunk differently, silently
    (cli_index / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(IndexLoadError, match="does not match its checksum"):
        load_index(cli_index)
    code, _, err = _run(capsys, "ask", "Who signed the harbour deal?", "--index", cli_index)
    assert code == 2 and "ragdiplo index CORPUS --index" in one_line_error(err)


def test_a_removed_checksum_is_refused(cli_index):
    m = json.loads((cli_index / MANIFEST).read_text())
    del m["manifest_sha256"]
    (cli_index / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(IndexLoadError, match="has no checksum"):
        load_index(cli_index)


# -- item 4: disk full ---------------------------------------------------------------------------


def _changed_corpus(tiny_corpus: Path) -> Path:
    (tiny_corpus / "new.txt").write_text("Flood warning in Kessel. The river rose by two metres overnight.\n")
    return tiny_corpus


def _generations(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(("data-", ".tmp-")))


def test_disk_full_while_writing_the_faiss_file(cli_index, tiny_corpus, capsys, monkeypatch):
    """/dev/full fails every write with ENOSPC, as a full disk does."""
    from ragdiplo.stores.faiss_store import FaissStore

    save = FaissStore.save
    monkeypatch.setattr(FaissStore, "save", lambda self, path: save(self, Path("/dev/full")))
    before, generations = snapshot(cli_index), _generations(cli_index)
    code, _, err = _run(capsys, "index", _changed_corpus(tiny_corpus), "--index", cli_index, "-q")
    assert code == 2
    line = one_line_error(err)
    assert "No space left on device" in line and "the existing index is unchanged" in line
    assert snapshot(cli_index) == before and _generations(cli_index) == generations


# -- item 5: a failed last step leaves no orphan generation --------------------------------------


def _disk_full_at_the_manifest(monkeypatch) -> None:
    from ragdiplo import durable

    def full(path, obj):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(durable, "atomic_write_json", full)


def test_a_save_failing_at_the_manifest_leaves_no_orphan(cli_index, tiny_corpus, capsys, monkeypatch):
    before, generations = snapshot(cli_index), _generations(cli_index)
    _disk_full_at_the_manifest(monkeypatch)
    code, _, err = _run(capsys, "index", _changed_corpus(tiny_corpus), "--index", cli_index, "-q")
    assert code == 2 and "No space left on device" in one_line_error(err)
    assert _generations(cli_index) == generations and snapshot(cli_index) == before


def test_the_next_writer_removes_stale_generations_first(cli_index, tiny_corpus, capsys, monkeypatch):
    """An orphan of an older ragdiplo (or of a killed writer) would keep a full disk
    full: the next writer removes it before writing, so even its own failure frees it."""
    import shutil

    (current,) = _generations(cli_index)
    orphan = cli_index / "data-0123456789abcdef"
    shutil.copytree(cli_index / current, orphan)
    _disk_full_at_the_manifest(monkeypatch)
    assert _run(capsys, "index", _changed_corpus(tiny_corpus), "--index", cli_index, "-q")[0] == 2
    assert _generations(cli_index) == [current]
    monkeypatch.undo()  # the disk has room again (and the fake model, undone with it, comes back)
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    assert _run(capsys, "index", tiny_corpus, "--index", cli_index, "-q")[0] == 0
    assert len(_generations(cli_index)) == 1 and load_index(cli_index).ids[-1] == "sub/c.txt"


# -- item 7: permissions --------------------------------------------------------------------------


def _modes(root: Path) -> set[tuple[str, int]]:
    return {("dir" if p.is_dir() else "file", p.stat().st_mode & 0o777) for p in root.rglob("*") if p.name != "write.lock"}


def test_generation_folders_follow_the_umask(tiny_corpus, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert _run(capsys, "index", tiny_corpus, "--index", tmp_path / "idx", "-q")[0] == 0
    finally:
        os.umask(old)
    assert _modes(tmp_path / "idx") == {("dir", 0o755), ("file", 0o644)}


def _deny_for_real(root: Path, monkeypatch) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file whatever its mode; the simulated case stands in for this one")
    victim = next(root.glob("data-*/documents.jsonl"))
    victim.chmod(0)


def _deny_simulated(root: Path, monkeypatch) -> None:
    """What the kernel does for a user without read permission on documents.jsonl:
    opening it raises PermissionError (root is never refused, so this stands in)."""
    from ragdiplo import durable

    victim = str(next(root.glob("data-*/documents.jsonl")))

    def guarded_open(file, *args, **kwargs):
        if str(file) == victim:
            raise PermissionError(13, "Permission denied", victim)
        return open(file, *args, **kwargs)

    monkeypatch.setattr(durable, "open", guarded_open, raising=False)


@pytest.mark.parametrize("deny", [_deny_for_real, _deny_simulated], ids=["real", "simulated"])
def test_a_permission_problem_is_named_and_nothing_is_rebuilt(cli_index, tiny_corpus, capsys, monkeypatch, deny):
    before = snapshot(cli_index)
    deny(cli_index, monkeypatch)
    for argv in (["ask", "Who signed the harbour deal?", "--index", cli_index],
                 ["index", _changed_corpus(tiny_corpus), "--index", cli_index, "-q"]):  # fmt: skip
        code, _, err = _run(capsys, *argv)
        assert code == 2
        line = one_line_error(err)
        assert "permission denied" in line and "not damaged" in line and "rebuild" not in line
    for p in cli_index.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    assert snapshot(cli_index) == before  # not rebuilt over a file it could not read


def test_an_unreadable_manifest_is_a_permission_problem(cli_index, capsys, monkeypatch):
    from ragdiplo import durable

    def guarded_open(file, *args, **kwargs):
        if Path(file).name == MANIFEST:
            raise PermissionError(13, "Permission denied", str(file))
        return open(file, *args, **kwargs)

    monkeypatch.setattr(durable, "open", guarded_open, raising=False)
    code, _, err = _run(capsys, "ask", "Who signed the harbour deal?", "--index", cli_index)
    assert code == 2 and "permission denied" in one_line_error(err)
