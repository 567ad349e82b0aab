"""The advised repair, `ragdiplo index CORPUS --index DIR`, leaves an index that
answers as a fresh build of the corpus does (issue 26, items 2 and 5): bad
stored vectors are embedded again, and a manifest naming another model is
rebuilt with the model in hand (so `ask` works after it)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
import ragdiplo.embed.factory as factory
from ragdiplo.answer.scoring import QAConfig
from ragdiplo.durable import file_record, seal
from ragdiplo.errors import ModelError
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.load import load_index
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.qa import QA

from .helpers import one_line_error

QUESTIONS = [
    "Who signed the harbour deal?",
    "How much was the harbour deal worth?",
    "By how much did wages rise?",
    "How long did the rail strike last?",
    "How much emergency aid did the minister promise?",
    "When was rainfall this low before?",
]


def _answers(root: Path) -> list[dict]:
    """Answers, citations and retrieved passages, as ``ask --json`` reports them (the rules
    reader: no model file is read)."""
    qa = QA(load_index(root), FakeEmbedder(), QAConfig(reader=None), index_path=root)
    return [qa.ask(q).to_dict() for q in QUESTIONS]


def _reseal(root: Path, **changes: object) -> None:
    m = json.loads((root / MANIFEST).read_text())
    for name in m["files"]:
        m["files"][name] = file_record(root / m["data"] / name)
    m.update(changes)
    (root / MANIFEST).write_text(json.dumps(seal(m)))


def _run(capsys, *argv: object) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def fresh(tiny_corpus, tmp_path) -> list[dict]:
    """What a fresh build of the corpus answers."""
    return _answers(save_index(build_index(load_corpus(tiny_corpus), FakeEmbedder()), tmp_path / "fresh"))


# -- item 2: after a repair, the index answers as a fresh build -------------------------------


@pytest.mark.parametrize("name", ["passage_vectors.npy", "sentence_vectors.npy"])
def test_a_repaired_index_answers_as_a_fresh_build(cli_index, tiny_corpus, fresh, capsys, name):
    data = cli_index / json.loads((cli_index / MANIFEST).read_text())["data"]
    vectors = np.load(data / name)
    vectors[::2] = np.nan  # every other row, across every document
    buf = io.BytesIO()
    np.save(buf, vectors, allow_pickle=False)
    (data / name).write_bytes(buf.getvalue())
    _reseal(cli_index)
    code, err = _run(capsys, "ask", QUESTIONS[0], "--index", cli_index)
    assert code == 2 and "not a unit vector" in one_line_error(err)
    code, err = _run(capsys, "index", tiny_corpus, "--index", cli_index)
    assert code == 0 and "full rebuild" in err and "3 texts embedded" in err
    assert _answers(cli_index) == fresh
    assert any(a["citations"] for a in fresh) and all(a["retrieved"] for a in fresh)


# -- item 5: a manifest naming another model --------------------------------------------------


CHOOSE_EMBEDDER = cli._embedder  # the CLI's own choice (the autouse fixture swaps it for the fake later)


@pytest.fixture
def factory_of_the_fake(monkeypatch):
    """The CLI's own choice of embedder, with the fake standing in for the bundled
    model: a model of another name must be given as a folder, as for real."""

    def query_embedder(model_id, model=None):
        if model is None and model_id != FakeEmbedder.model_id:
            raise ModelError(f"the index was built with the model {model_id!r}",
                             cli_message=f"the index was built with the model {model_id!r}; pass --model PATH")
        return FakeEmbedder()

    monkeypatch.setattr(cli, "_embedder", CHOOSE_EMBEDDER)
    monkeypatch.setattr(factory, "default_embedder", lambda model=None, backend=None, precision=None: FakeEmbedder())
    monkeypatch.setattr(factory, "query_embedder", query_embedder)
    monkeypatch.setattr(factory, "index_embedder", lambda m, backend=None, precision=None, model=None:
                        query_embedder(m, model))


def test_a_manifest_naming_another_model_is_repaired_so_ask_works(cli_index, tiny_corpus, fresh, capsys,
                                                                   factory_of_the_fake):
    _reseal(cli_index, model_id="some-other-model")  # the same vectors under a name no folder here holds
    code, err = _run(capsys, "ask", QUESTIONS[0], "--index", cli_index)
    assert code == 2 and "some-other-model" in one_line_error(err)
    code, err = _run(capsys, "index", tiny_corpus, "--index", cli_index)
    assert code == 0 and "full rebuild" in err and "some-other-model" in err
    assert load_index(cli_index).model_id == FakeEmbedder.model_id
    assert _run(capsys, "ask", QUESTIONS[0], "--index", cli_index)[0] == 0
    assert _answers(cli_index) == fresh

