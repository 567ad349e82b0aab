"""The ONNX Runtime and OpenVINO backends against the real bundled model (marked integration)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragdiplo.embed.base import DEFAULT_MODEL_ID, Backend, Precision
from ragdiplo.errors import IndexMismatchError
from ragdiplo.index.build import build_index, save_index
from ragdiplo.index.compat import PROBE_COSINE, agreement
from ragdiplo.index.load import load_index
from ragdiplo.index.update import add_documents, edit_index, update_documents
from ragdiplo.ingest.chunking import ChunkerConfig, chunk_document
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.ingest.sentences import sentence_spans
from ragdiplo.qa import QA
from ragdiplo.types import Document

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
BACKSTOP = "What backstop did Starmer ask for?"


def _seed_texts(embedder) -> list[str]:
    docs = load_corpus(REPO / "seeds")[:2]
    sentences = [d.text[s:e] for d in docs for s, e in sentence_spans(d.text)]
    passages = [p.text for d in docs for p in chunk_document(d, embedder, ChunkerConfig())]
    return sentences + passages + [BACKSTOP, "How long was the partial truce?"]


def test_onnx_vectors_and_tokens_equal_sentence_transformers(onnx_embedder, real_embedder):
    texts = _seed_texts(real_embedder)
    assert len(texts) > 50
    ours, theirs = onnx_embedder.embed(texts), real_embedder.embed(texts)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape == (len(texts), 384)
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)
    for d in load_corpus(REPO / "seeds"):
        assert onnx_embedder.token_spans(d.text) == real_embedder.token_spans(d.text)
    assert onnx_embedder.max_tokens == real_embedder.max_tokens and onnx_embedder.dim == real_embedder.dim


@pytest.fixture(params=["onnx", "openvino"])
def runtime_embedder(request):
    return request.getfixturevalue(f"{request.param}_embedder")


def test_a_vector_depends_on_its_own_text_only_bit_for_bit(runtime_embedder):
    """What lets documents share embedding calls: a text gets the same bits alone,
    in another order, and among texts of every length."""
    e = runtime_embedder
    texts = _seed_texts(e)[:40] + ["Starmer.", "Trump and Starmer.", "Trump and Starmer."]
    whole = e.embed(texts)
    assert np.array_equal(whole, e.embed(texts[::-1])[::-1])
    for i in (0, 7, 39, 40, 41):
        assert np.array_equal(e.embed([texts[i]])[0], whole[i])
    assert np.array_equal(whole[41], whole[42])
    assert e.embed([]).shape == (0, 384)
    assert e.batch_invariant


def test_openvino_gives_a_text_the_same_bits_at_every_place_in_a_row(openvino_embedder):
    """Packed rows: a long text placed first (it is the longest) leaves a gap of
    another size each time, so the seeds' texts land in other rows, at other
    offsets, next to other texts."""
    e = openvino_embedder
    texts = _seed_texts(e)[:30]
    whole = e.embed(texts)
    for words in (210, 217, 223, 236, 239, 247):
        assert np.array_equal(e.embed([" ".join(["ceasefire"] * words), *texts])[1:], whole)
    assert np.array_equal(e.embed(["x", "y z", texts[0]])[2], whole[0])


def test_openvino_hands_questions_to_onnx_runtime(openvino_embedder, onnx_embedder, tmp_path):
    """An index built in-process answers exactly as the same index loaded back."""
    assert np.array_equal(openvino_embedder.embed_query(BACKSTOP), onnx_embedder.embed([BACKSTOP])[0])
    index = build_index(load_corpus(REPO / "seeds")[:3], openvino_embedder)
    save_index(index, tmp_path / "idx")
    here, loaded = QA(index, openvino_embedder, index_path=tmp_path / "idx"), QA.load(tmp_path / "idx")
    for q in (BACKSTOP, "Who is Mark Rutte?"):
        a, b = here.ask(q), loaded.ask(q)
        assert (a.text, a.confidence, a.citations) == (b.text, b.confidence, b.citations)


def test_openvino_vectors_agree_with_onnx_runtime(openvino_embedder, onnx_embedder):
    texts = _seed_texts(onnx_embedder)
    ours, exact = openvino_embedder.embed(texts), onnx_embedder.embed(texts)
    assert ours.dtype == np.float32 and np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    bf16 = openvino_embedder.precision is Precision.BFLOAT16
    assert float((ours * exact).sum(axis=1).min()) > (0.9999 if bf16 else 0.999999)
    assert openvino_embedder.model_id == onnx_embedder.model_id == DEFAULT_MODEL_ID  # the model, not the runtime
    assert (openvino_embedder.backend, onnx_embedder.backend) == (Backend.OPENVINO, Backend.ONNX)
    assert openvino_embedder.token_spans(texts[0]) == onnx_embedder.token_spans(texts[0])


def test_an_openvino_index_answers_as_an_onnx_runtime_one(openvino_embedder, onnx_embedder):
    """Built in bfloat16, asked with ONNX Runtime's question vectors (what QA.load does)."""
    docs = load_corpus(REPO / "seeds")
    fast, exact = build_index(docs, openvino_embedder), build_index(docs, onnx_embedder)
    for q in (BACKSTOP, "How long was the partial truce proposed by Macron and Starmer?", "Who is Mark Rutte?"):
        a, b = QA(fast, onnx_embedder).ask(q), QA(exact, onnx_embedder).ask(q)
        assert (a.text, [(c.doc_id, c.start) for c in a.citations]) == (b.text, [(c.doc_id, c.start) for c in b.citations])
        # the passages answers are read from; near-ties further down may swap
        assert [h.passage for h in a.retrieved[:5]] == [h.passage for h in b.retrieved[:5]]


def test_update_equals_a_full_rebuild_bit_for_bit(runtime_embedder):
    onnx_embedder = runtime_embedder
    docs = load_corpus(REPO / "seeds")[:3]
    index, _ = add_documents(build_index(docs[:2], onnx_embedder), docs[2:], onnx_embedder)
    changed = Document(docs[0].id, docs[0].text + "\nA sentence added later, about the backstop.\n")
    index, changes = update_documents(index, [changed], onnx_embedder)
    assert changes.embedded == 1
    rebuilt = build_index([changed, *docs[1:]], onnx_embedder)
    assert np.array_equal(index.passage_vectors, rebuilt.passage_vectors)
    assert np.array_equal(index.sentence_vectors, rebuilt.sentence_vectors)
    assert np.array_equal(index.passage_rows, rebuilt.passage_rows)


@pytest.mark.parametrize(("build", "edit"), [("onnx", "openvino"), ("openvino", "onnx"), ("onnx", "real")])
def test_an_index_of_one_backend_is_updated_by_another(request, tmp_path, build, edit):
    """Any backend of the model edits an index of any other: the new vectors agree
    with a rebuild's within the rule's tolerance, and the index keeps its record."""
    builder, editor_embedder = (request.getfixturevalue(f"{name}_embedder") for name in (build, edit))
    docs = load_corpus(REPO / "seeds")[:4]
    root = save_index(build_index(docs[:3], builder), tmp_path / "idx")
    with edit_index(root, editor_embedder) as editor:
        editor.add(docs[3:])
    assert editor.changes.embedded == 1 and editor.changes.rebuilt is None
    index, rebuilt = load_index(root), build_index(docs, builder)
    assert (index.backend, index.precision) == (builder.backend, builder.precision)
    assert np.array_equal(index.passage_rows, rebuilt.passage_rows)
    cosines = (np.asarray(index.passage_vectors) * rebuilt.passage_vectors).sum(axis=1)
    assert cosines.min() >= PROBE_COSINE and agreement(index, builder) >= PROBE_COSINE
    question = docs[3].text.split("\n")[0]  # the added article's headline finds it
    assert QA.load(root).ask(question).retrieved[0].passage.doc_id == docs[3].id


def test_backends_of_the_model_agree_far_above_the_threshold(openvino_embedder, onnx_embedder, real_embedder):
    """The numbers ``compat`` quotes: the index's own probes, embedded again."""
    index = build_index(load_corpus(REPO / "seeds"), openvino_embedder)
    lowest = {name: agreement(index, e) for name, e in (("onnx", onnx_embedder), ("torch", real_embedder))}
    floor = 0.99995 if openvino_embedder.precision is Precision.BFLOAT16 else 0.999999
    assert min(lowest.values()) >= floor > PROBE_COSINE


class Rotated:
    """Another model of the same dimension, as no second model is available
    offline: the bundled model's vectors turned by a fixed random rotation."""

    def __init__(self, inner) -> None:
        self.inner, self.model_id, self.dim, self.max_tokens = inner, "rotated-minilm", inner.dim, inner.max_tokens
        q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((inner.dim, inner.dim)))
        self.rotation = q.astype(np.float32)

    def embed(self, texts, *, show_progress=False):
        return self.inner.embed(texts) @ self.rotation.T

    def token_spans(self, text):
        return self.inner.token_spans(text)


def test_a_different_model_is_refused(onnx_embedder, tmp_path):
    docs = load_corpus(REPO / "seeds")[:3]
    root = save_index(build_index(docs[:2], onnx_embedder), tmp_path / "idx")
    other = Rotated(onnx_embedder)
    index = load_index(root)
    assert agreement(index, other) < 0.3
    with pytest.raises(IndexMismatchError, match="another model"):
        QA.load(root, embedder=other)
    with pytest.raises(IndexMismatchError, match="rebuild it from the whole corpus"), edit_index(root, other) as editor:
        editor.add(docs[2:])
    with edit_index(root, other) as editor:  # a whole corpus: rebuilt with the new model
        editor.sync(docs)
    assert editor.changes.rebuilt and "the model changed" in editor.changes.rebuilt
    assert load_index(root).model_id == "rotated-minilm"


def test_loading_and_asking_an_onnx_index_does_not_import_torch(onnx_embedder, tmp_path):
    path = tmp_path / "idx"
    save_index(build_index(load_corpus(REPO / "seeds"), onnx_embedder), path)
    code = (
        "import json, sys\nfrom ragdiplo import QA\n"
        f"a = QA.load({str(path)!r}).ask({BACKSTOP!r})\n"
        "print(json.dumps({'answer': a.text, 'cited': a.citations[0].text, 'torch': 'torch' in sys.modules}))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["torch"] is False
    assert out["answer"] and out["answer"] in out["cited"] and "backstop" in out["cited"]


def test_onnx_and_torch_answer_alike(onnx_embedder, real_embedder):
    index = build_index(load_corpus(REPO / "seeds"), onnx_embedder)
    by_torch, by_onnx = QA(index, real_embedder), QA(index, onnx_embedder)
    for q in (BACKSTOP, "How long was the partial truce proposed by Macron and Starmer?"):
        a, b = by_torch.ask(q), by_onnx.ask(q)
        assert (a.text, [c.doc_id for c in a.citations]) == (b.text, [c.doc_id for c in b.citations])
        assert [h.passage for h in a.retrieved] == [h.passage for h in b.retrieved]


def test_openvino_in_float32_on_request_and_the_backend_choice(onnx_embedder, monkeypatch):
    from ragdiplo.embed.factory import default_embedder
    from ragdiplo.embed.openvino_backend import OpenVinoEmbedder

    exact = OpenVinoEmbedder(bf16=False)
    assert (exact.model_id, exact.backend, exact.precision) == (DEFAULT_MODEL_ID, Backend.OPENVINO, Precision.FLOAT32)
    texts = _seed_texts(onnx_embedder)[:20]
    assert np.abs(exact.embed(texts) - onnx_embedder.embed(texts)).max() < 1e-5
    import ragdiplo.embed.factory as factory

    monkeypatch.delenv("RAGDIPLO_BACKEND", raising=False)
    bf16_cpu = factory.CpuCapabilities("AuthenticAMD", 2, avx2=True, avx512f=True, avx512_bf16=True, vnni=True)
    monkeypatch.setattr(factory, "cpu_capabilities", lambda: bf16_cpu)  # the choice is the CPU's: fix it
    assert type(default_embedder()).__name__ == "OpenVinoEmbedder"
    monkeypatch.setattr(factory, "cpu_capabilities", lambda: factory.CpuCapabilities("AuthenticAMD", 2, avx2=True))
    assert type(default_embedder()).__name__ == "OnnxEmbedder"
    monkeypatch.setenv("RAGDIPLO_BACKEND", "onnx")
    assert type(default_embedder()).__name__ == "OnnxEmbedder"


def test_openvino_is_used_without_its_telemetry(openvino_embedder, tmp_path):
    """OpenVINO's package import sends a usage event and writes a client id under
    ~/intel; ragdiplo imports it with that switched off (and leaves no trace)."""
    from ragdiplo.embed.export import cache_root

    code = (
        "import sys\nfrom ragdiplo.embed.openvino_backend import OpenVinoEmbedder\n"
        "e = OpenVinoEmbedder()\nassert e.embed(['a backstop']).shape == (1, 384)\n"
        "print(sorted(m for m in sys.modules if m.startswith('openvino_telemetry')))\n"
        "import openvino_telemetry\n"  # the user's own imports still work afterwards
    )
    env = dict(os.environ, HOME=str(tmp_path), RAGDIPLO_CACHE=str(cache_root()), PYTHONPATH=str(REPO))
    env.pop("CI", None)  # OpenVINO skips its telemetry in CI; the test must not depend on that
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"  # no sender, no backend was ever loaded
    assert not (tmp_path / "intel").exists()


def _gold_questions(*names: str) -> list[str]:
    return [json.loads(line)["question"] for name in names
            for line in (REPO / "gold" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def test_questions_embedded_together_get_the_bits_each_gets_alone(runtime_embedder):
    questions = _gold_questions("seeds_extra", "seeds_holdout", "seeds_nearmiss")
    assert len(questions) > 150
    alone = np.stack([runtime_embedder.embed_query(q) for q in questions])
    assert runtime_embedder.embed_queries(questions).tobytes() == alone.tobytes()


def test_ask_many_gives_ask_s_answers_on_the_seeds(onnx_embedder):
    questions = _gold_questions("seeds_extra", "seeds_nearmiss")
    qa = QA.build(REPO / "seeds", embedder=onnx_embedder)
    assert qa.ask_many(questions) == [qa.ask(q) for q in questions]
