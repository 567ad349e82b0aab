"""Issue 17: faults of the disk and the file system (disk full, a failed last step,
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

import ragdiplo.cli.main as cli
from ragdiplo.index.build import MANIFEST
from ragdiplo.index.load import load_index, read_manifest
from ragdiplo.errors import IndexLoadError

from .helpers import one_line_error, snapshot


def _run(capsys, *argv: object) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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
    m["chunker"]["max_tokens"] += 1  # 200 -> 201 in the issue: updates would chunk differently, silently
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
