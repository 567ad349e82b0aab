"""An index remembers how it was embedded: edits need no embedder, and a wrong one
is told exactly what to pass."""

from __future__ import annotations

import pytest
from conftest import FakeEmbedder

import ragdiplo.embed.factory as factory
import ragdiplo.index.update as update
from ragdiplo.embed.base import DEFAULT_MODEL_ID, Backend, base_model_id
from ragdiplo.errors import IndexMismatchError, ModelError
from ragdiplo.index.build import build_index, save_index
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.types import Document

OPENVINO_ID = DEFAULT_MODEL_ID + "+openvino-bf16-g2"


@pytest.mark.parametrize(
    "model_id", [DEFAULT_MODEL_ID, OPENVINO_ID, DEFAULT_MODEL_ID + "+openvino", DEFAULT_MODEL_ID + "+onnx-g2"]
)
def test_base_model_id_drops_backend_and_graph(model_id):
    assert base_model_id(model_id) == DEFAULT_MODEL_ID


def test_index_embedder_runs_the_bundled_model_on_the_index_backend(monkeypatch):
    calls = []
    monkeypatch.setattr(factory, "default_embedder", lambda model=None, backend=None: calls.append((model, backend)))
    factory.index_embedder(OPENVINO_ID)
    factory.index_embedder(DEFAULT_MODEL_ID + "+onnx-g2")
    factory.index_embedder(DEFAULT_MODEL_ID)
    assert calls == [(None, Backend.OPENVINO), (None, Backend.ONNX), (None, Backend.TORCH)]


def test_index_embedder_asks_for_the_folder_of_another_model():
    with pytest.raises(ModelError, match=r"model folder 'my-model'.*default_embedder\('path/to/my-model', backend='onnx'\)"):
        factory.index_embedder("my-model+onnx-g2")


@pytest.fixture
def fake_index(tiny_corpus, tmp_path):
    path = tmp_path / "idx"
    save_index(build_index(load_corpus(tiny_corpus), FakeEmbedder()), path)
    return path


def test_edit_index_without_an_embedder_uses_the_index_own(fake_index, monkeypatch):
    asked = []

    def index_embedder(model_id):
        asked.append(model_id)
        return FakeEmbedder()

    monkeypatch.setattr(update, "index_embedder", index_embedder)
    with update.edit_index(fake_index) as editor:
        editor.delete(["b.txt"])
    assert asked == []  # a delete embeds nothing: no model is loaded
    with update.edit_index(fake_index) as editor:
        editor.add([Document("new.txt", "The ferry to Port Vesta sails at noon.")])
    assert asked == ["fake-hash-64"]
    assert editor.changes.added == ("new.txt",) and editor.changes.embedded == 1


def test_another_backend_of_the_same_model_is_told_what_to_pass(fake_index, monkeypatch):
    class OpenVinoBuilt(FakeEmbedder):
        model_id = OPENVINO_ID

    class PlainTorch(FakeEmbedder):
        model_id = DEFAULT_MODEL_ID

    path = fake_index.parent / "ov"
    save_index(build_index(load_corpus(fake_index.parent / "corpus"), OpenVinoBuilt()), path)
    with pytest.raises(IndexMismatchError) as err, update.edit_index(path, PlainTorch()) as editor:
        editor.add([Document("new.txt", "The ferry sails at noon.")])
    message = str(err.value)
    assert repr(OPENVINO_ID) in message
    assert "leave the embedder out (edit_index(path)) or pass default_embedder(backend='openvino')" in message
