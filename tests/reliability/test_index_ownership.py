"""An index writer touches only what is its own: a folder that is neither empty
nor an index is refused before anything in it changes, files a user keeps beside
an index are left alone, a folder in the way of the index's data is refused, an
index folder is kept apart from its corpus, and a lock file that is not a file
is named as such (issue 26, items 1 and 8)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.durable import LOCK_FILE, MARK, TEMP_PREFIX
from ragdiplo.errors import IndexWriteError
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.load import load_index
from ragdiplo.index.update import edit_index
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.qa import QA

from .helpers import one_line_error


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root`` (a folder as None, a link as its target's name), byte for byte."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        key = p.relative_to(root).as_posix()
        out[key] = os.readlink(p).encode() if p.is_symlink() else None if p.is_dir() else p.read_bytes()
    return out


def _users_files(folder: Path) -> dict[str, bytes | None]:
    """What a user keeps in a folder, named as an index writer once took for its own debris."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".tmp-notes.txt").write_text("call the harbour office\n")
    (folder / "data-2024").mkdir()
    (folder / "data-2024" / "results.csv").write_text("month,count\n1,4\n")
    (folder / "data-0123456789abcdef").mkdir()  # shaped like a generation's name, but not one
    (folder / "data-0123456789abcdef" / "results.csv").write_text("month,count\n2,7\n")
    (folder / ".tmp-abcdefgh").mkdir()  # shaped like a temporary folder of an older writer
    (folder / ".tmp-abcdefgh" / "draft.md").write_text("# draft\n")
    return {k: v for k, v in _tree(folder).items() if k.split("/")[0] in USERS}


USERS = {".tmp-notes.txt", "data-2024", "data-0123456789abcdef", ".tmp-abcdefgh"}


def _run(capsys, *argv: object) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


# -- a folder of someone else's files is refused before anything is touched -------------------


def test_ragdiplo_index_refuses_a_folder_of_the_users_files(tiny_corpus, tmp_path, capsys):
    folder = tmp_path / "mine"
    before = _users_files(folder)
    code, err = _run(capsys, "index", tiny_corpus, "--index", folder, "-q")
    assert code == 2
    line = one_line_error(err)
    assert "not an index folder" in line and "choose an empty or new folder for --index" in line
    assert ".tmp-abcdefgh" in line and "move those files out" in line
    assert _tree(folder) == before  # nothing removed, nothing added (not even write.lock)


@pytest.mark.parametrize("how", ["QA.build", "save_index", "edit_index"])
def test_python_refuses_a_folder_of_the_users_files(tiny_corpus, tmp_path, how):
    folder = tmp_path / "mine"
    before = _users_files(folder)
    with pytest.raises(IndexWriteError, match="not an index folder") as err:
        if how == "QA.build":
            QA.build(tiny_corpus, folder, embedder=FakeEmbedder())
        elif how == "save_index":
            save_index(build_index(load_corpus(tiny_corpus), FakeEmbedder()), folder)
        else:
            with edit_index(folder, FakeEmbedder()) as editor:
                editor.sync(load_corpus(tiny_corpus))
    assert "choose an empty or new folder for the index" in str(err.value) and "--" not in str(err.value)
    assert _tree(folder) == before


@pytest.mark.parametrize("manifest", ['{"name": "harbour-app", "version": "1.0"}', "not json at all"])
def test_a_foreign_manifest_is_not_overwritten(tiny_corpus, tmp_path, capsys, manifest):
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / MANIFEST).write_text(manifest)
    (folder / "data-2024").mkdir()
    (folder / "data-2024" / "results.csv").write_text("1,2\n")
    before = _tree(folder)
    code, err = _run(capsys, "index", tiny_corpus, "--index", folder, "-q")
    assert code == 2 and "'manifest.json'" in one_line_error(err)
    with pytest.raises(IndexWriteError, match="not an index folder"):
        QA.build(tiny_corpus, folder, embedder=FakeEmbedder())
    assert _tree(folder) == before


def test_an_empty_or_new_folder_is_written(tiny_corpus, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        assert _run(capsys, "index", tiny_corpus, "--index", folder, "-q")[0] == 0
        assert load_index(folder).ids == ["a.txt", "b.txt", "sub/c.txt"]


def test_an_index_folder_reached_by_a_link_is_checked_and_written(tiny_corpus, tmp_path, capsys):
    """A link to a folder of the user's files is refused like the folder; a link to
    an index (an index kept on another disk) is written through, as before."""
    (tmp_path / "link").symlink_to(tmp_path / "mine", target_is_directory=True)
    before = _users_files(tmp_path / "mine")
    assert _run(capsys, "index", tiny_corpus, "--index", tmp_path / "link", "-q")[0] == 2
    assert _tree(tmp_path / "mine") == before
    (tmp_path / "disk" / "idx").mkdir(parents=True)
    (tmp_path / "idx").symlink_to(tmp_path / "disk" / "idx", target_is_directory=True)
    for _ in range(2):
        assert _run(capsys, "index", tiny_corpus, "--index", tmp_path / "idx", "-q")[0] == 0
    assert load_index(tmp_path / "disk" / "idx").ids == ["a.txt", "b.txt", "sub/c.txt"]


# -- beside an index: the user's files stay, the writer's own debris goes ---------------------


def _changed(corpus: Path) -> Path:
    (corpus / "new.txt").write_text("Flood warning in Kessel. The river rose by two metres overnight.\n")
    return corpus


def test_files_kept_beside_an_index_survive_updates(cli_index, tiny_corpus, capsys):
    users = _users_files(cli_index)
    assert _run(capsys, "index", _changed(tiny_corpus), "--index", cli_index, "-q")[0] == 0
    after = _tree(cli_index)
    assert {k: after.get(k) for k in users} == users  # every file of the user's, byte for byte
    assert load_index(cli_index).ids[-2:] == ["new.txt", "sub/c.txt"]
    generations = sorted(p.name for p in cli_index.glob("data-*") if (p / MARK).is_file())
    assert generations == [json.loads((cli_index / MANIFEST).read_text())["data"]]  # the old one went


def test_python_saves_beside_the_users_files_too(tiny_corpus, tmp_path):
    root = save_index(build_index(load_corpus(tiny_corpus), FakeEmbedder()), tmp_path / "idx")
    users = _users_files(root)
    QA.build(_changed(tiny_corpus), root, embedder=FakeEmbedder())
    assert {k: _tree(root).get(k) for k in users} == users


def test_the_writers_own_debris_is_removed(cli_index, tiny_corpus, capsys):
    """What a killed writer leaves (its temporary folder and manifest, a generation
    the manifest does not name) is the writer's own: the next write removes it."""
    current = json.loads((cli_index / MANIFEST).read_text())["data"]
    shutil.copytree(cli_index / current, cli_index / "data-00000000000000ff")  # holds the mark: an orphan
    (cli_index / f"{TEMP_PREFIX}0123456789abcdef").mkdir()  # killed before its mark was written
    shutil.copytree(cli_index / current, cli_index / f"{TEMP_PREFIX}00000000000000aa")
    (cli_index / f"{TEMP_PREFIX}00000000000000bb.json").write_text('{"format": "ragd')
    assert _run(capsys, "index", _changed(tiny_corpus), "--index", cli_index, "-q")[0] == 0
    left = sorted(p.name for p in cli_index.iterdir())
    assert left == sorted([MANIFEST, LOCK_FILE, json.loads((cli_index / MANIFEST).read_text())["data"]])


def test_a_folder_in_the_way_of_the_new_generation_is_refused(tiny_corpus, tmp_path, capsys):
    """A folder of the user's with the very name the new data needs: refused, kept."""
    scratch = save_index(build_index(load_corpus(_changed(tiny_corpus)), FakeEmbedder()), tmp_path / "scratch")
    name = json.loads((scratch / MANIFEST).read_text())["data"]
    (tiny_corpus / "new.txt").unlink()
    root = tmp_path / "idx"
    assert _run(capsys, "index", tiny_corpus, "--index", root, "-q")[0] == 0
    (root / name).mkdir()
    (root / name / "results.csv").write_text("kept\n")
    before = _tree(root)
    code, err = _run(capsys, "index", _changed(tiny_corpus), "--index", root, "-q")
    assert code == 2
    line = one_line_error(err)
    assert f"{root / name}: a folder ragdiplo did not write" in line and "move it out" in line
    assert _tree(root) == before


def test_a_corrupt_manifest_of_ours_is_still_repaired(cli_index, tiny_corpus, capsys):
    """A damaged manifest beside the index's own generation: the folder is an index
    (its generation says so), so `ragdiplo index` repairs it, as before."""
    (cli_index / MANIFEST).write_text("[" * 5000)
    (cli_index / ".tmp-notes.txt").write_text("kept\n")
    assert _run(capsys, "index", tiny_corpus, "--index", cli_index, "-q")[0] == 0
    assert load_index(cli_index).ids == ["a.txt", "b.txt", "sub/c.txt"]
    assert (cli_index / ".tmp-notes.txt").read_text() == "kept\n"


# -- an index folder apart from its corpus ----------------------------------------------------


@pytest.mark.parametrize("where", ["corpus", "corpus/idx", "parent"])
def test_an_index_folder_must_be_apart_from_its_corpus(tiny_corpus, where):
    root = {"corpus": tiny_corpus, "corpus/idx": tiny_corpus / "idx", "parent": tiny_corpus.parent}[where]
    before = _tree(tiny_corpus.parent)
    index = build_index(load_corpus(tiny_corpus), FakeEmbedder())
    with pytest.raises(IndexWriteError, match="the corpus .*keep an index apart from it") as err:
        save_index(index, root, corpus=tiny_corpus)
    assert "--index" in err.value.cli_message and "--" not in str(err.value)
    with pytest.raises(IndexWriteError, match="the corpus .*keep an index apart from it"):
        with edit_index(root, FakeEmbedder(), corpus=tiny_corpus):
            pytest.fail("the block must not run")
    assert _tree(tiny_corpus.parent) == before


def test_a_jsonl_corpus_inside_the_index_folder_is_refused(tmp_path):
    corpus = tmp_path / "idx" / "news.jsonl"
    corpus.parent.mkdir()
    corpus.write_text(json.dumps({"id": "a", "text": "The harbour deal was signed."}) + "\n")
    with pytest.raises(IndexWriteError, match="holds the corpus"):
        save_index(build_index(load_corpus(corpus), FakeEmbedder()), tmp_path / "idx", corpus=corpus)
    save_index(build_index(load_corpus(corpus), FakeEmbedder()), tmp_path / "other", corpus=corpus)  # apart: fine


# -- item 8: a lock file that is not a file ---------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "link-to-file", "dangling-link"])
def test_a_lock_that_is_not_a_file_says_to_remove_it(cli_index, tiny_corpus, tmp_path, capsys, kind):
    lock = cli_index / LOCK_FILE
    lock.unlink()
    target = tmp_path / "precious.txt"
    if kind == "folder":
        lock.mkdir()
    else:
        if kind == "link-to-file":
            target.write_text("a file of the user's, which the lock must not truncate\n")
        lock.symlink_to(target)
    before = _tree(cli_index)
    code, err = _run(capsys, "index", _changed(tiny_corpus), "--index", cli_index, "-q")
    assert code == 2
    line = one_line_error(err)
    assert f"remove {lock}" in line and "make the folder writable" not in line
    assert ("a folder" if kind == "folder" else "a symbolic link") in line
    assert _tree(cli_index) == before
    if kind == "link-to-file":
        assert target.read_text().startswith("a file of the user's")
    with pytest.raises(IndexWriteError, match="remove"):
        save_index(load_index(cli_index), cli_index)


@pytest.mark.parametrize("inside", [False, True])
def test_ragdiplo_index_keeps_the_index_apart_from_its_corpus(tiny_corpus, capsys, monkeypatch, inside):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    root = tiny_corpus / "idx" if inside else tiny_corpus
    before = sorted(p.relative_to(tiny_corpus) for p in tiny_corpus.rglob("*"))
    assert cli.main(["index", str(tiny_corpus), "--index", str(root), "-q"]) == 2
    assert "corpus" in one_line_error(capsys.readouterr().err)  # refused: the folder is or lies in the corpus
    assert sorted(p.relative_to(tiny_corpus) for p in tiny_corpus.rglob("*")) == before


@pytest.mark.parametrize("inside", [False, True])
def test_qa_build_keeps_the_index_apart_from_its_corpus_before_embedding(tiny_corpus, inside):
    class Counting(FakeEmbedder):
        calls = 0

        def embed(self, texts, *, show_progress=False):
            Counting.calls += 1
            return super().embed(texts, show_progress=show_progress)

    root = tiny_corpus / "idx" if inside else tiny_corpus
    with pytest.raises(IndexWriteError, match="apart"):
        QA.build(tiny_corpus, root, embedder=Counting())
    assert Counting.calls == 0 and not (tiny_corpus / "idx").exists()


def test_a_folder_kept_by_a_repository_is_written_and_its_placeholders_kept(tiny_corpus, tmp_path, capsys, monkeypatch):
    """A repository keeps an empty folder with a README or .gitkeep (this one's index/ does): an index is written
    beside them and they are never touched; any other file still makes the folder foreign."""
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    folder = tmp_path / "index"
    folder.mkdir()
    (folder / "README.md").write_text("# index/\nThe default index folder.\n")
    (folder / ".gitkeep").write_text("")
    assert cli.main(["index", str(tiny_corpus), "--index", str(folder), "-q"]) == 0
    assert cli.main(["index", str(tiny_corpus), "--index", str(folder), "-q"]) == 0
    assert (folder / "README.md").read_text() == "# index/\nThe default index folder.\n"
    assert (folder / ".gitkeep").exists() and (folder / MANIFEST).is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "README.md").write_text("x")
    (other / "notes.txt").write_text("mine")
    assert cli.main(["index", str(tiny_corpus), "--index", str(other), "-q"]) == 2
    assert "notes.txt" in capsys.readouterr().err and not (other / MANIFEST).exists()


def test_a_manifest_that_is_a_folder_is_named_by_ask_and_index_and_removing_it_is_the_fix(tiny_corpus, tmp_path,
                                                                                           capsys, monkeypatch):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    root = tmp_path / "idx"
    assert cli.main(["index", str(tiny_corpus), "--index", str(root), "-q"]) == 0
    (root / MANIFEST).unlink()
    (root / MANIFEST).mkdir()
    capsys.readouterr()
    assert cli.main(["ask", "Who signed the harbour deal?", "--index", str(root)]) == 2
    assert "is a folder, not a manifest: remove it" in one_line_error(capsys.readouterr().err)
    assert cli.main(["index", str(tiny_corpus), "--index", str(root), "-q"]) == 2
    assert "is a folder, not an index manifest" in one_line_error(capsys.readouterr().err)
    assert (root / MANIFEST).is_dir()  # nothing was changed
    (root / MANIFEST).rmdir()
    assert cli.main(["index", str(tiny_corpus), "--index", str(root), "-q"]) == 0
    assert cli.main(["ask", "Who signed the harbour deal?", "--index", str(root)]) == 0


@pytest.mark.parametrize("name", [TEMP_PREFIX + "0123456789abcdef", "data-0123456789abcdef"])
def test_a_folder_whose_mark_a_kill_cut_short_is_removed_by_the_next_writer(tiny_corpus, tmp_path, name):
    """A writer killed while writing a new folder's mark leaves the folder with part of the mark and nothing
    else: still recognisably its own, so the next save removes it (a user's file beside it would keep it)."""
    index = build_index(load_corpus(tiny_corpus), FakeEmbedder())
    root = save_index(index, tmp_path / "idx")
    debris = root / name
    debris.mkdir()
    (debris / MARK).write_bytes(b"a generation of a rag")  # the first bytes of the mark only
    kept = root / (name[:-1] + "e")
    kept.mkdir()
    (kept / MARK).write_bytes(b"a generation of a rag")
    (kept / "results.csv").write_text("the user's")
    save_index(index, root)
    assert not debris.exists() and (kept / "results.csv").read_text() == "the user's"
