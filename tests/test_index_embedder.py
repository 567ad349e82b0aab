"""An index records its model apart from the backend and precision that ran it:
edits need no embedder and prefer the recorded backend, indexes written before
that (the backend in the model id) still load and update, and a model that
cannot be found is told exactly what to pass."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_DOCS, FakeEmbedder

import ragdiplo.embed.factory as factory
import ragdiplo.index.update as update
from ragdiplo.embed.base import DEFAULT_MODEL_ID, Backend, Precision
from ragdiplo.embed.factory import CpuCapabilities
from ragdiplo.errors import ModelError
from ragdiplo.index.build import ALIASES, FORMAT_VERSION, MANIFEST, build_index, save_index
from ragdiplo.index.load import load_index, model_of
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.qa import QA
from ragdiplo.types import Document

FORMAT_4 = Path(__file__).parent / "data" / "index-format-4"  # written by ragdiplo before format 5
BF16_CPU = CpuCapabilities("AuthenticAMD", 2, avx2=True, avx512f=True, avx512_bf16=True)


@pytest.mark.parametrize(
    ("model_id", "backend", "precision"),
    [
        (DEFAULT_MODEL_ID + "+openvino-bf16-g2", Backend.OPENVINO, Precision.BFLOAT16),
        (DEFAULT_MODEL_ID + "+openvino-g2", Backend.OPENVINO, Precision.FLOAT32),
        (DEFAULT_MODEL_ID + "+openvino-bf16", Backend.OPENVINO, Precision.BFLOAT16),
        (DEFAULT_MODEL_ID + "+onnx-g2", Backend.ONNX, Precision.FLOAT32),
        (DEFAULT_MODEL_ID + "+onnx", Backend.ONNX, Precision.FLOAT32),
        (DEFAULT_MODEL_ID, None, Precision.FLOAT32),
        ("my-model+onnx-g2", Backend.ONNX, Precision.FLOAT32),
    ],
)
def test_old_model_ids_are_parsed_into_model_backend_and_precision(model_id, backend, precision):
    bare = model_id.split("+")[0]
    assert model_of({"format_version": 4, "model_id": model_id}) == (bare, backend, precision)


def test_new_manifests_record_the_three_apart(tiny_corpus, tmp_path):
    class OnnxLike(FakeEmbedder):
        model_id, backend, precision = DEFAULT_MODEL_ID, Backend.OPENVINO, Precision.BFLOAT16

    path = save_index(build_index(load_corpus(tiny_corpus), OnnxLike()), tmp_path / "idx")
    m = json.loads((path / MANIFEST).read_text())
    assert (m["model_id"], m["backend"], m["precision"]) == (DEFAULT_MODEL_ID, "openvino", "bfloat16")
    loaded = load_index(path)
    assert (loaded.model_id, loaded.backend, loaded.precision) == (DEFAULT_MODEL_ID, Backend.OPENVINO, Precision.BFLOAT16)


def test_an_index_of_format_4_loads_answers_and_updates(tmp_path):
    root = tmp_path / "old"
    shutil.copytree(FORMAT_4, root)
    old = json.loads((root / MANIFEST).read_text())
    assert old["format_version"] == 4 and old["model_id"] == "fake-hash-64+openvino-bf16-g2" and "documents" in old
    index = load_index(root)
    assert (index.model_id, index.backend, index.precision) == ("fake-hash-64", Backend.OPENVINO, Precision.BFLOAT16)
    assert index.aliases("a.txt") == ("copy of a.txt",) and index.document("copy of a.txt").text == TINY_DOCS["a.txt"]
    answer = QA(index, FakeEmbedder(), index_path=root).ask("Who signed the harbour deal?")
    assert answer.citations and answer.citations[0].doc_id in ("a.txt", "copy of a.txt")

    with update.edit_index(root, FakeEmbedder()) as editor:
        editor.add([Document("d.txt", "A bridge opened in Lindau. It spans the river Ach.")])
    assert editor.changes.embedded == 1 and editor.changes.rebuilt is None  # updated, not rebuilt
    new = json.loads((root / MANIFEST).read_text())
    assert new["format_version"] == FORMAT_VERSION and "documents" not in new and "aliases" not in new
    assert (new["model_id"], new["backend"], new["precision"]) == ("fake-hash-64", "openvino", "bfloat16")
    assert json.loads((root / new["data"] / ALIASES).read_text()) == {"copy of a.txt": "a.txt"}
    updated = load_index(root)
    assert updated.ids == ["a.txt", "b.txt", "copy of a.txt", "d.txt", "sub/c.txt"]
    kept, before = updated.artefacts(), index.artefacts()
    for sha, artefacts in before.items():  # the old texts' vectors are kept as they were
        assert np.array_equal(np.asarray(kept[sha].sentence_vectors), np.asarray(artefacts.sentence_vectors))


def test_index_embedder_runs_the_bundled_model_on_the_recorded_backend(monkeypatch):
    calls = []

    def fake_default(model=None, backend=None, precision=None):
        calls.append((model, backend, precision))
        if backend is Backend.OPENVINO and precision is Precision.FLOAT32:
            raise ModelError("OpenVINO cannot run here")
        return FakeEmbedder()

    monkeypatch.setattr(factory, "default_embedder", fake_default)
    monkeypatch.setattr(factory, "cpu_capabilities", lambda: BF16_CPU)
    factory.index_embedder(DEFAULT_MODEL_ID, Backend.OPENVINO, Precision.BFLOAT16)
    factory.index_embedder(DEFAULT_MODEL_ID, Backend.ONNX, Precision.FLOAT32)
    factory.index_embedder(DEFAULT_MODEL_ID, None)
    assert calls == [(None, Backend.OPENVINO, Precision.BFLOAT16), (None, Backend.ONNX, Precision.FLOAT32),
                     (None, None, None)]
    calls.clear()
    factory.index_embedder(DEFAULT_MODEL_ID, Backend.OPENVINO, Precision.FLOAT32)  # cannot run: any backend will do
    assert calls == [(None, Backend.OPENVINO, Precision.FLOAT32), (None, None, None)]


def test_an_index_made_in_bfloat16_is_edited_by_the_default_on_a_cpu_without_it(monkeypatch):
    calls = []
    monkeypatch.setattr(factory, "default_embedder", lambda *a: calls.append(a) or FakeEmbedder())
    monkeypatch.setattr(factory, "cpu_capabilities", lambda: CpuCapabilities("AuthenticAMD", 2, avx2=True))
    factory.index_embedder(DEFAULT_MODEL_ID, Backend.OPENVINO, Precision.BFLOAT16)  # OpenVINO would run float32
    factory.index_embedder(DEFAULT_MODEL_ID, Backend.OPENVINO, Precision.FLOAT32)  # recorded float32: kept
    factory.index_embedder(DEFAULT_MODEL_ID, Backend.ONNX, Precision.FLOAT32)
    assert calls == [(None,), (None, Backend.OPENVINO, Precision.FLOAT32), (None, Backend.ONNX, Precision.FLOAT32)]


def test_index_embedder_asks_for_the_folder_of_another_model():
    with pytest.raises(ModelError, match=r"model 'my-model'.*default_embedder\('path/to/my-model'\)") as err:
        factory.index_embedder("my-model", Backend.ONNX)
    assert "--" not in str(err.value) and "--model PATH" in err.value.cli_message
    with pytest.raises(ModelError, match="my-model"):
        factory.query_embedder("my-model")


@pytest.fixture
def fake_index(tiny_corpus, tmp_path):
    path = tmp_path / "idx"
    save_index(build_index(load_corpus(tiny_corpus), FakeEmbedder()), path)
    return path


def test_edit_index_without_an_embedder_uses_the_index_own(fake_index, monkeypatch):
    asked = []

    def index_embedder(model_id, backend, precision):
        asked.append((model_id, backend, precision))
        return FakeEmbedder()

    monkeypatch.setattr(update, "index_embedder", index_embedder)
    with update.edit_index(fake_index) as editor:
        editor.delete(["b.txt"])
    assert asked == []  # a delete embeds nothing: no model is loaded
    with update.edit_index(fake_index) as editor:
        editor.add([Document("new.txt", "The ferry to Port Vesta sails at noon.")])
    assert asked == [("fake-hash-64", None, Precision.FLOAT32)]
    assert editor.changes.added == ("new.txt",) and editor.changes.embedded == 1


def test_ragdiplo_index_prefers_the_recorded_backend(tiny_corpus, tmp_path, monkeypatch):
    import ragdiplo.cli.main as cli

    class Built(FakeEmbedder):
        model_id, backend, precision = DEFAULT_MODEL_ID, Backend.OPENVINO, Precision.FLOAT32

    root = save_index(build_index(load_corpus(tiny_corpus), Built()), tmp_path / "idx")
    asked = []
    monkeypatch.setattr(factory, "index_embedder", lambda *a: asked.append(a) or Built())
    monkeypatch.setattr(factory, "query_embedder", lambda *a: asked.append(("query", *a)) or Built())
    args = argparse.Namespace(index=str(root), command="index", model=None)
    cli._embedder(args)
    assert asked == [(DEFAULT_MODEL_ID, Backend.OPENVINO, Precision.FLOAT32, None)]
    asked.clear()
    cli._embedder(argparse.Namespace(index=str(root), command="ask", model=None), DEFAULT_MODEL_ID)
    assert asked == [("query", DEFAULT_MODEL_ID, None)]  # questions: the quickest backend to start
