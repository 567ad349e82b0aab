"""A Milvus store that cannot be reached changes
nothing (no silent switch to FAISS); an index folder alone never chooses where
to connect or what to create outside itself; a writer's rows never take a
reader's places; Milvus Lite's own tracebacks stay off the terminal; and
``close_clients`` lets another process open the Lite file.

Runs on Milvus Lite (skipped without ``pip install 'ragdiplo[milvus]'``); each
test has its own Lite file and closes it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.durable import seal
from ragdiplo.index.build import MANIFEST
from ragdiplo.index.load import load_index
from ragdiplo.stores.faiss_store import StoreConfig, StoreKind

from .helpers import QUERIES, child_env, one_line_error, snapshot

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


@pytest.fixture
def lite(tmp_path):
    """A Milvus Lite file outside the index folder, closed after the test."""
    from ragdiplo.stores.milvus import close_clients

    yield tmp_path / "vectors.db"
    close_clients()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _milvus_index(capsys, corpus: Path, root: Path, uri: Path) -> list[str]:
    flags = ["--store", "milvus", "--milvus-uri", str(uri)]
    assert _run(capsys, "index", corpus, "--index", root, "-q", *flags)[0] == 0
    return flags


def _store_of(root: Path) -> object:
    return json.loads((root / MANIFEST).read_text())["store"]


# -- item 2: unreachable is not corrupt ----------------------------------------------------------


@pytest.mark.integration  # runs Milvus Lite
def test_unreachable_server_changes_nothing(tiny_corpus, tmp_path, lite, capsys, monkeypatch):
    import pymilvus

    from ragdiplo.stores.milvus import close_clients

    root = tmp_path / "idx"
    flags = _milvus_index(capsys, tiny_corpus, root, lite)
    before, store = snapshot(root), _store_of(root)
    close_clients()

    def refused(*args, **kwargs):
        raise pymilvus.MilvusException(message="Fail connecting to server on 127.0.0.1:19530, connection refused")

    monkeypatch.setattr(pymilvus, "MilvusClient", refused)
    for argv in (["index", tiny_corpus, "--index", root, "-q", *flags], ["ask", QUERIES[0], "--index", root, *flags]):
        code, _, err = _run(capsys, *argv)
        assert code == 2
        line = one_line_error(err)
        assert "cannot connect to Milvus" in line and "connection refused" in line and "nothing was changed" in line
    assert snapshot(root) == before and _store_of(root) == store  # not re-embedded into FAISS


@pytest.mark.integration  # runs Milvus Lite
def test_corrupt_lite_file_changes_nothing_and_prints_one_line(tiny_corpus, tmp_path, lite, capsys):
    from ragdiplo.stores.milvus import close_clients

    root = tmp_path / "idx"
    flags = _milvus_index(capsys, tiny_corpus, root, lite)
    before, store = snapshot(root), _store_of(root)
    close_clients()
    shutil.rmtree(lite)
    lite.write_bytes(b"\x00garbage, not a Milvus Lite store")
    code, _, err = _run(capsys, "index", tiny_corpus, "--index", root, "-q", *flags)
    assert code == 2
    line = one_line_error(err)  # Milvus Lite's own logged traceback is not shown (item 12)
    assert "cannot connect to Milvus" in line and "File exists" in line
    assert snapshot(root) == before and _store_of(root) == store


@pytest.mark.integration  # runs Milvus Lite
def test_corrupt_index_in_milvus_is_rebuilt_in_milvus(tiny_corpus, tmp_path, lite, capsys):
    """A corrupt data file is a reason to rebuild, but into the store the index names."""
    root = tmp_path / "idx"
    flags = _milvus_index(capsys, tiny_corpus, root, lite)
    store = _store_of(root)
    next(root.glob("data-*/documents.jsonl")).write_text("not json\n")
    code, _, err = _run(capsys, "index", tiny_corpus, "--index", root, *flags)
    assert code == 0 and "full rebuild: the old index could not be read" in err
    assert _store_of(root) == store
    assert type(load_index(root, store=StoreConfig(StoreKind.MILVUS, str(lite))).store).__name__ == "MilvusStore"


# -- item 6: the manifest alone chooses nothing ------------------------------------------------------


def _point_manifest_at(root: Path, uri: str) -> None:
    """An attacker who controls the folder rewrites the manifest, checksum included."""
    m = json.loads((root / MANIFEST).read_text())
    m["store"] = {"kind": "milvus", "uri": uri, "collection": "ragdiplo"}
    (root / MANIFEST).write_text(json.dumps(seal(m)))


@pytest.mark.parametrize("where", ["new-folder", "server"])
def test_manifest_cannot_make_a_reader_connect_or_create(cli_index, tiny_corpus, tmp_path, capsys, monkeypatch, where):
    import pymilvus

    target = tmp_path / "elsewhere" / "made" / "by-the-manifest.db"
    uri = str(target) if where == "new-folder" else "http://203.0.113.9:19530"
    _point_manifest_at(cli_index, uri)
    before = snapshot(cli_index)
    calls: list[tuple] = []
    monkeypatch.setattr(pymilvus, "MilvusClient", lambda *a, **k: calls.append(a) or pytest.fail("connected"))
    for argv in (["ask", QUERIES[0], "--index", cli_index], ["index", tiny_corpus, "--index", cli_index, "-q"]):
        code, _, err = _run(capsys, *argv)
        assert code == 2 and "alone may not choose where to connect" in one_line_error(err)
    assert not calls and not (tmp_path / "elsewhere").exists() and snapshot(cli_index) == before


@pytest.mark.integration  # runs Milvus Lite
def test_lite_store_inside_the_index_folder_needs_no_flag(tiny_corpus, tmp_path, capsys):
    from ragdiplo.stores.milvus import close_clients

    root = tmp_path / "idx"
    try:
        _milvus_index(capsys, tiny_corpus, root, root / "vectors.db")
        code, out, err = _run(capsys, "ask", QUERIES[0], "--index", root)
        assert code == 0 and out.startswith("Answer:"), err
    finally:
        close_clients()


@pytest.mark.integration  # runs Milvus Lite
def test_missing_lite_store_is_not_created_by_a_reader(tiny_corpus, tmp_path, capsys):
    from ragdiplo.stores.milvus import close_clients

    root = tmp_path / "idx"
    try:
        _milvus_index(capsys, tiny_corpus, root, root / "vectors.db")
        close_clients()
        shutil.rmtree(root / "vectors.db")
        code, _, err = _run(capsys, "ask", QUERIES[0], "--index", root)
        assert code == 2 and "is missing" in one_line_error(err) and not (root / "vectors.db").exists()
    finally:
        close_clients()


@pytest.mark.integration  # runs Milvus Lite
def test_a_missing_lite_store_named_by_the_writer_is_made_anew(tiny_corpus, tmp_path, lite, capsys):
    """The reader's advice for a deleted Lite file, re-indexing with --store milvus and its path, works: the
    writer rebuilds into a new file there (before, it repeated the reader's error)."""
    from ragdiplo.stores.milvus import close_clients

    root = tmp_path / "idx"
    flags = _milvus_index(capsys, tiny_corpus, root, lite)
    close_clients()
    shutil.rmtree(lite) if lite.is_dir() else lite.unlink()
    assert _run(capsys, "ask", QUERIES[0], "--index", root, *flags)[0] == 2
    code, _, err = _run(capsys, "index", tiny_corpus, "--index", root, *flags)
    assert code == 0 and "full rebuild" in err and lite.exists()
    code, out, err = _run(capsys, "ask", QUERIES[0], "--index", root, *flags)
    assert code == 0 and out.startswith("Answer:"), err


# -- item 12: rows of another generation, Lite's lock ------------------------------------------------


@pytest.mark.integration  # runs Milvus Lite
def test_rows_of_another_generation_never_take_a_readers_places(tiny_corpus, tmp_path, lite, capsys):
    """A writer inserts its rows before the manifest swap, and a killed one leaves them
    there until the next update: a reader's top k must still be its own rows."""
    from ragdiplo.stores.milvus import MilvusStore
    from ragdiplo.types import Passage

    root = tmp_path / "idx"
    _milvus_index(capsys, tiny_corpus, root, lite)
    config = StoreConfig(StoreKind.MILVUS, str(lite))
    index = load_index(root, store=config)
    queries = FakeEmbedder().embed(QUERIES)
    k = len(index)
    want_scores = queries @ np.asarray(index.passage_vectors).T
    foreign = np.repeat(queries, 30, axis=0)  # rows that beat every real passage, as a writer's new rows may
    passages = [Passage(f"new-{i}.txt", 0, 5, "words") for i in range(len(foreign))]
    MilvusStore(config, index.dim, []).add(foreign, passages)
    assert index.store.collection_count() == k + len(foreign)
    scores, rows = index.store.search(queries, k)
    assert (rows >= 0).all()  # every place filled with the index's own rows
    for q in range(len(queries)):
        np.testing.assert_allclose(scores[q], np.sort(want_scores[q])[::-1], atol=1e-5)


@pytest.mark.integration  # runs Milvus Lite
def test_close_clients_releases_the_lite_file(tiny_corpus, tmp_path, lite, capsys):
    from ragdiplo.stores.milvus import close_clients

    _milvus_index(capsys, tiny_corpus, tmp_path / "idx", lite)
    close_clients()
    probe = "import sys; from pymilvus import MilvusClient; print(MilvusClient(sys.argv[1]).list_collections())"
    done = subprocess.run([sys.executable, "-c", probe, str(lite)], capture_output=True, text=True, timeout=120,
                          env=child_env(), check=False)  # fmt: skip
    assert done.returncode == 0 and "ragdiplo" in done.stdout, done.stderr[-2000:]
