"""The speed levers: lazy imports, the question cache, the ONNX export cache and
the choice of backend. No model needed here; the ONNX
backend against the real model is in test_onnx_integration.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeEmbedder

import ragdiplo
import ragdiplo.embed.export as onnx_export
from ragdiplo.qa import QA

REPO = Path(__file__).resolve().parents[1]


def test_import_loads_no_heavy_module():
    heavy = ("numpy", "faiss", "torch", "bm25s", "onnxruntime")
    code = f"import sys, ragdiplo; print([m for m in {heavy!r} if m in sys.modules])"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_a_saved_index_is_searched_without_bm25s_or_scipy(tmp_path):
    """bm25s (and the scipy it imports) only builds: a question process reads the saved scores itself."""
    shutil.copytree(REPO / "tests" / "data" / "index-format-4", tmp_path / "idx")
    code = ("import sys; from ragdiplo.index.load import load_index; "
            f"index = load_index({str(tmp_path / 'idx')!r}); assert index.bm25.scores('harbour deal').any(); "
            "print([m for m in ('bm25s', 'scipy', 'nupunkt') if m in sys.modules])")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves():
    for name in ragdiplo.__all__:
        assert getattr(ragdiplo, name) is not None
    assert set(ragdiplo.__all__) <= set(dir(ragdiplo))
    with pytest.raises(AttributeError):
        ragdiplo.no_such_name  # noqa: B018


class Counting(FakeEmbedder):
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts, *, show_progress=False):
        self.calls.append(list(texts))
        return super().embed(texts)


def test_a_repeated_question_is_embedded_once(tiny_corpus):
    e = Counting()
    qa = QA.build(tiny_corpus, embedder=e)
    e.calls.clear()
    first = qa.ask("What did the mayor sign?")
    again = qa.ask("What did the mayor sign?")
    qa.ask("How long will the dredging take?")
    assert e.calls == [["What did the mayor sign?"], ["How long will the dredging take?"]]
    assert first == again


def test_questions_take_the_embedders_own_query_path(fake_embedder):
    import numpy as np

    from ragdiplo.embed.base import embed_question

    class WithQueries(type(fake_embedder)):
        def embed_query(self, text):
            return -self.embed([text])[0]

    assert np.array_equal(embed_question(fake_embedder, "a backstop"), fake_embedder.embed(["a backstop"])[0])
    assert np.array_equal(embed_question(WithQueries(), "a backstop"), -fake_embedder.embed(["a backstop"])[0])


@pytest.fixture
def fake_export(monkeypatch, tmp_path):
    """A model folder and an exporter that writes known bytes instead of running torch."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    calls = []

    def export(folder_, target, source):
        calls.append(target)
        onnx_export._write_atomically(target, onnx_export.ONNX_FILE, onnx_export.RECORD, source,
                                      lambda tmp: Path(tmp).write_bytes(b"graph" * 100))

    monkeypatch.setattr(onnx_export, "_export", export)
    return folder, tmp_path / "cache", calls


def test_export_is_made_once_and_reused(fake_export):
    folder, cache, calls = fake_export
    path = onnx_export.ensure_export(folder, cache)
    assert path.read_bytes() == b"graph" * 100 and len(calls) == 1
    assert onnx_export.ensure_export(folder, cache) == path and len(calls) == 1
    record = json.loads((cache / onnx_export.RECORD).read_text())
    assert record["bytes"] == 500 and record["source"]["bytes"] == len(b"weights")
    assert record["source"]["weights_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert not list(cache.glob(".tmp-*"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "delete_record", "bad_record", "new_weights"])
def test_a_missing_or_corrupt_export_is_made_again(fake_export, damage):
    folder, cache, calls = fake_export
    path = onnx_export.ensure_export(folder, cache)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(path.read_bytes())
        data[10] ^= 1
        path.write_bytes(bytes(data))
    elif damage == "delete":
        path.unlink()
    elif damage == "delete_record":
        (cache / onnx_export.RECORD).unlink()
    elif damage == "bad_record":
        (cache / onnx_export.RECORD).write_text("{not json")
    else:
        (folder / "model.safetensors").write_bytes(b"other weights")
    assert onnx_export.ensure_export(folder, cache) == path
    assert len(calls) == 2 and path.read_bytes() == b"graph" * 100


def test_the_cache_is_keyed_by_content_and_moves_with_ragdiplo_cache(fake_export, monkeypatch, tmp_path):
    folder, _, calls = fake_export
    monkeypatch.setenv("RAGDIPLO_CACHE", str(tmp_path / "moved"))
    path = onnx_export.ensure_export(folder)
    assert path.parent.parent == tmp_path / "moved" / "onnx"
    twin = tmp_path / "other-venv" / "model"  # the same files installed elsewhere share the export
    shutil.copytree(folder, twin)
    assert onnx_export.ensure_export(twin) == path and len(calls) == 1
    (twin / "model.safetensors").write_bytes(b"retrained")  # other weights: an export of their own
    assert onnx_export.ensure_export(twin) != path and len(calls) == 2
    assert onnx_export.FORMAT in path.parent.name and f"v{onnx_export.FORMAT_VERSION}" in path.parent.name


def test_an_unchanged_file_is_hashed_once(fake_export, monkeypatch):
    folder, _, _ = fake_export
    hashed = []
    real = onnx_export.sha256_file
    monkeypatch.setattr(onnx_export, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    weights = folder / "model.safetensors"
    first = onnx_export.content_hash(weights)
    assert onnx_export.content_hash(weights) == first and hashed == ["model.safetensors"]
    weights.write_bytes(b"new weights")
    assert onnx_export.content_hash(weights) == hashlib.sha256(b"new weights").hexdigest() and len(hashed) == 2


def test_a_failed_export_leaves_no_file_and_no_record(monkeypatch, fake_export):
    folder, cache, _ = fake_export

    def failing(folder_, target, source):
        def write(tmp):
            Path(tmp).write_bytes(b"half")
            raise RuntimeError("killed")

        onnx_export._write_atomically(target, onnx_export.ONNX_FILE, onnx_export.RECORD, source, write)

    monkeypatch.setattr(onnx_export, "_export", failing)
    with pytest.raises(RuntimeError):
        onnx_export.ensure_export(folder, cache)
    assert sorted(p.name for p in cache.iterdir()) == ["export.lock"]


@pytest.mark.parametrize("seed", range(5))
def test_batches_hold_one_token_count_within_both_limits(seed):
    import numpy as np

    from ragdiplo.embed.onnx_backend import OnnxEmbedder

    e = OnnxEmbedder.__new__(OnnxEmbedder)  # the batching needs no model
    e.batch_size, e.batch_tokens, e.max_tokens = 8, 100, 510
    lengths = list(np.random.default_rng(seed).integers(1, 130, size=60))
    batches = e._batches(lengths)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(60))
    assert [lengths[i] for i in rows] == sorted(lengths)
    for b in batches:
        assert len({lengths[i] for i in b}) == 1  # a text's width is its own, never its neighbours'
        assert len(b) <= 8
        assert len(b) == 1 or len(b) * lengths[b[0]] <= 100
    assert e._batches([]) == []


def test_documents_sharing_calls_get_what_one_call_each_gives(fake_embedder, monkeypatch):
    """The grouped path (a batch-invariant embedder) and the one-call-per-document
    path make the same artefacts; calls hold about TEXTS_PER_CALL texts."""
    import numpy as np

    import ragdiplo.index.artefacts as artefacts
    from ragdiplo.ingest.chunking import ChunkerConfig
    from ragdiplo.types import Document

    docs = [Document(f"d{i}", f"Sentence {i} about Starmer. Another one on Trump {i % 3}. Same line.") for i in range(30)]
    calls = []
    embed = fake_embedder.embed
    monkeypatch.setattr(fake_embedder, "embed", lambda texts, **kw: calls.append(len(texts)) or embed(texts))
    monkeypatch.setattr(artefacts, "TEXTS_PER_CALL", 20)
    grouped = artefacts.segment_and_embed(docs, fake_embedder, ChunkerConfig(max_tokens=8, overlap_tokens=0))
    assert len(calls) < len(docs) and sum(calls) < 4 * len(docs)  # "Same line." is embedded once
    monkeypatch.setattr(type(fake_embedder), "batch_invariant", False)
    calls.clear()
    single = artefacts.segment_and_embed(docs, fake_embedder, ChunkerConfig(max_tokens=8, overlap_tokens=0))
    assert len(calls) == len(docs)
    assert grouped.keys() == single.keys()
    for key, a in grouped.items():
        b = single[key]
        assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)


def test_the_default_falls_back_to_onnx_runtime_when_openvino_cannot_run(monkeypatch):
    import ragdiplo.embed.factory as embedding
    import ragdiplo.embed.onnx_backend as onnx_embedding
    import ragdiplo.embed.openvino_backend as openvino_embedding
    from ragdiplo.errors import ModelError

    class Broken:
        def __init__(self, model=None, *, bf16=None):
            raise ModelError("no OpenVINO CPU plugin here")

    class Onnx:
        def __init__(self, model=None):
            self.model = model

    monkeypatch.setattr(openvino_embedding, "OpenVinoEmbedder", Broken)
    monkeypatch.setattr(onnx_embedding, "OnnxEmbedder", Onnx)
    monkeypatch.delenv("RAGDIPLO_BACKEND", raising=False)
    monkeypatch.setattr(embedding, "_fastest_runtime", lambda: embedding.Backend.OPENVINO)
    assert isinstance(embedding.default_embedder(), Onnx)
    with pytest.raises(ModelError, match="plugin"):
        embedding.default_embedder(backend="openvino")


def test_the_benchmark_says_where_it_ran():
    """benchmarks/run.py records and prints the CPU, its flags, the load and the threads each system used."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    machine = bench.machine()
    assert set(machine["flags"]) <= set(bench.FLAGS) and machine["usable_cores"] >= 1 and "thread_env" in machine
    runtime = {"build": "openvino/bfloat16", "rule": "openvino/bfloat16", "forced": None, "build_threads": 2,
               "questions": "onnx/float32", "question_threads": 2, "reader_threads": 2, "ort_spinning": False}
    peer = {"runtime": {"build": "torch/float32", "torch_threads": 2, "torch_interop_threads": 2}}
    results = {"machine": machine, "loadavg_start": [1.5, 1.0, 0.5], "loadavg_end": [0.5, 0.5, 0.5], "loaded": True,
               "corpora": {"seeds": {"runtime": runtime, "peer": peer, "loadavg_before": [1.5, 1.0, 0.5],
                                     "loadavg_after": [0.5, 0.5, 0.5]}}}
    text = bench.where_it_ran(results)
    assert machine["cpu"] in text and "a loaded machine" in text
    assert "openvino/bfloat16 on 2 threads" in text and "spinning off" in text and "2 torch threads" in text
