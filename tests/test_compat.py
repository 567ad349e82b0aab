"""One rule decides whether an embedder may search or edit an index: the dimension,
and the index's own probe sentences embedded again, each within PROBE_COSINE of
its stored vector. Backends of one model pass, other models fail, whatever
their names say. The real backends are in test_onnx_integration.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FakeEmbedder, OtherModelEmbedder

from ragdiplo.embed.base import Backend, Precision
from ragdiplo.errors import IndexMismatchError
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.compat import PROBE_CHARS, PROBE_COSINE, PROBES, agreement, check_compatible, probe_rows
from ragdiplo.index.load import load_index
from ragdiplo.index.update import add_documents, edit_index, sync_documents
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.qa import QA
from ragdiplo.types import Document


class Tilted(FakeEmbedder):
    """The fake model's vectors turned by exactly ``cosine`` towards an unrelated
    direction: what another backend or precision does to them, in a known amount."""

    def __init__(self, cosine: float, backend: Backend | None = None, precision=Precision.FLOAT32) -> None:
        self.cosine, self.backend, self.precision = cosine, backend, precision
        self.model_id = "fake-hash-64"

    def embed(self, texts, *, show_progress=False):
        v = super().embed(texts)
        u = np.roll(v, 1, axis=1)
        u -= (u * v).sum(axis=1, keepdims=True) * v
        u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
        return (self.cosine * v + np.sqrt(1 - self.cosine**2) * u).astype(np.float32)


@pytest.fixture
def index(tiny_corpus):
    return build_index(load_corpus(tiny_corpus), FakeEmbedder())


def test_the_threshold_is_the_rule(index):
    assert agreement(index, FakeEmbedder()) == pytest.approx(1.0, abs=1e-6)
    close, far = Tilted(PROBE_COSINE + 5e-4), Tilted(PROBE_COSINE - 5e-4)
    assert agreement(index, close) == pytest.approx(PROBE_COSINE + 5e-4, abs=1e-5)
    check_compatible(index, close)
    with pytest.raises(IndexMismatchError, match=r"cosine 0\.99\d+ on one of its sentences, under 0\.999"):
        check_compatible(index, far)
    assert agreement(index, OtherModelEmbedder()) < 0.5


def test_probes_are_a_few_short_sentences_of_one_token_length(fake_embedder):
    sentences = ["Harbour cranes arrive today.", "The strike ended on Monday night.", "Wheat fell by a fifth this year.",
                 "Ferries sail again today.", "Rain came late this year.", "Too short.", "Old docks close today."]
    index = build_index([Document("d", " ".join(sentences))], fake_embedder)
    texts = [d.text[s:e] for d, s, e in map(index.sentence, probe_rows(index, fake_embedder))]
    # 5, 7, 8, 5, 6, (3), 5 tokens: the first three of one length, for one call of a runtime that groups by length
    assert texts == ["Harbour cranes arrive today.", "Ferries sail again today.", "Old docks close today."]
    assert len(texts) == PROBES and all(PROBE_CHARS[0] <= len(t) <= PROBE_CHARS[1] for t in texts)
    one = build_index([Document("x", "Short.")], fake_embedder)
    assert [one.sentence(r)[0].text for r in probe_rows(one, fake_embedder)] == ["Short."]  # too short, still compared


def test_another_backend_of_the_model_searches_and_edits_the_index(tiny_corpus, tmp_path):
    """Built by one backend (here: a bfloat16 one), asked and extended by others;
    the index keeps the record of the backend that made its vectors."""
    built = Tilted(0.99998, Backend.OPENVINO, Precision.BFLOAT16)
    root = save_index(build_index(load_corpus(tiny_corpus), built), tmp_path / "idx")
    onnx = Tilted(1.0, Backend.ONNX)
    answer = QA.load(root, embedder=onnx).ask("Who signed the harbour deal?")
    assert answer.citations and answer.citations[0].doc_id == "a.txt"
    with edit_index(root, Tilted(0.99999, Backend.TORCH)) as editor:
        editor.add([Document("d.txt", "A bridge opened in Lindau. It spans the river Ach.")])
    assert editor.changes.embedded == 1 and editor.changes.rebuilt is None
    m = json.loads((root / MANIFEST).read_text())
    assert (m["backend"], m["precision"]) == ("openvino", "bfloat16")
    assert QA.load(root, embedder=onnx).ask("Where did a bridge open?").citations[0].doc_id == "d.txt"


def test_another_model_of_the_same_dimension_is_refused_everywhere(index, tiny_corpus, tmp_path):
    other = OtherModelEmbedder()
    assert other.dim == index.dim and other.model_id != index.model_id
    with pytest.raises(IndexMismatchError, match="another model") as err:
        QA(index, other)
    assert "QA.build" in str(err.value) and "ragdiplo index" in err.value.cli_message
    with pytest.raises(IndexMismatchError, match="rebuild it from the whole corpus"):
        add_documents(index, [Document("d.txt", "A bridge opened.")], other)
    rebuilt, changes = sync_documents(index, load_corpus(tiny_corpus), other)
    assert changes.rebuilt and changes.rebuilt.startswith("the model changed") and changes.embedded == 3
    assert rebuilt.model_id == "another-model"


def test_the_name_does_not_decide(index):
    """The same vectors under another name are the same model; another model
    under the index's own name is not."""

    class Renamed(FakeEmbedder):
        model_id = "a-copy-of-the-fake"

    class Impostor(OtherModelEmbedder):
        model_id = "fake-hash-64"

    check_compatible(index, Renamed())
    with pytest.raises(IndexMismatchError):
        check_compatible(index, Impostor())


class Plain:
    """An embedder written before the base class: the five members only."""

    model_id, dim, max_tokens = "fake-hash-64", 64, 64

    def __init__(self) -> None:
        self.fake, self.calls = FakeEmbedder(), 0

    def embed(self, texts, *, show_progress=False):
        self.calls += 1
        return self.fake.embed(texts)

    def token_spans(self, text):
        return self.fake.token_spans(text)


def test_an_embedder_with_only_the_five_members_still_works(tiny_corpus, tmp_path):
    plain = Plain()
    index = build_index(load_corpus(tiny_corpus), plain)
    assert plain.calls == 3  # not batch invariant by default: one call per document
    assert (index.backend, index.precision) == (None, Precision.FLOAT32)
    root = save_index(index, tmp_path / "idx")
    qa = QA.load(root, embedder=plain)
    assert qa.ask("Who signed the harbour deal?").citations[0].doc_id == "a.txt"
    with edit_index(root, plain) as editor:
        editor.add([Document("d.txt", "A bridge opened in Lindau.")])
    assert load_index(root).ids == ["a.txt", "b.txt", "d.txt", "sub/c.txt"]


def test_the_manifest_does_not_grow_with_the_documents(tmp_path):
    def manifest_bytes(n: int, copies: int) -> int:
        docs = [Document(f"doc-{i:05d}.txt", f"Report {i} on the harbour of Port Vesta.") for i in range(n)]
        docs += [Document(f"copy-{i:05d}.txt", docs[i].text) for i in range(copies)]
        root = save_index(build_index(docs, FakeEmbedder()), tmp_path / f"idx-{n}")
        return len((root / MANIFEST).read_bytes())

    small, big = manifest_bytes(3, 1), manifest_bytes(400, 200)
    assert abs(big - small) < 64  # more digits in counts and file sizes; an entry per id would be 60,000 bytes
