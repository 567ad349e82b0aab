"""Shared fixtures: a fake embedder for fast offline tests, tiny corpora, and the
real bundled model for the few tests marked ``integration``.

Two tiers: ``pytest -m "not integration"`` is the inner loop; a test that loads a
real embedding model or runs Milvus Lite in the test process without the
``integration`` mark fails (the hooks below). Tests run with a temporary home
folder, so caches, REPL history and model runtimes' files never reach the user's."""

from __future__ import annotations

import os
import shutil
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# Before anything reads them (huggingface_hub reads HF_HOME when imported): a home of
# the test run's own, inherited (and kept) by the processes tests start.
os.environ["RAGDIPLO_TESTS_HOME"] = os.environ.get("RAGDIPLO_TESTS_HOME") or tempfile.mkdtemp(prefix="ragdiplo-home-")
os.environ["HOME"] = os.environ["RAGDIPLO_TESTS_HOME"]
os.environ["XDG_CACHE_HOME"] = os.path.join(os.environ["HOME"], ".cache")
os.environ["XDG_CONFIG_HOME"] = os.path.join(os.environ["HOME"], ".config")
os.environ["XDG_DATA_HOME"] = os.path.join(os.environ["HOME"], ".local", "share")
os.environ["XDG_STATE_HOME"] = os.path.join(os.environ["HOME"], ".local", "state")
os.environ["HF_HOME"] = os.path.join(os.environ["HOME"], ".cache", "huggingface")

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from ragdiplo.embed.base import Embedder

_HOME = Path(os.environ["HOME"])
# What only an integration test may do in the test process: build a real embedder
# (module, class) or open a Milvus Lite client (module, function).
_REAL_EMBEDDERS = [("ragdiplo.embed.base", "SentenceTransformerEmbedder"),
                   ("ragdiplo.embed.onnx_backend", "OnnxEmbedder"),
                   ("ragdiplo.embed.openvino_backend", "OpenVinoEmbedder")]
_in_integration_test = [True]  # outside a test (collection, session teardown): allowed


def _refuse_outside_integration(what: str) -> None:
    if not _in_integration_test[0]:
        pytest.fail(f"{what} outside an integration test: mark it @pytest.mark.integration or use the fake embedder")


def _guarded_init(cls: type, what: str) -> None:
    init = cls.__init__

    def guarded(self, *args, **kwargs):
        _refuse_outside_integration(what)
        init(self, *args, **kwargs)

    cls.__init__ = guarded


def pytest_configure(config: pytest.Config) -> None:
    import importlib

    for module, name in _REAL_EMBEDDERS:
        _guarded_init(getattr(importlib.import_module(module), name), f"the real model ({name}) is loaded")
    milvus = importlib.import_module("ragdiplo.stores.milvus")
    client = milvus._client

    def guarded_client(uri: str):
        _refuse_outside_integration(f"Milvus ({uri}) is started or connected")
        return client(uri)

    milvus._client = guarded_client


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)  # children that imported this module shared it


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    _in_integration_test[0] = item.get_closest_marker("integration") is not None
    yield
    _in_integration_test[0] = True


_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")


class FakeEmbedder(Embedder):
    """Deterministic hashing bag-of-words vectors: texts sharing words are
    similar, and no model, network or torch is needed."""

    model_id = "fake-hash-64"
    batch_invariant = True  # each row depends on its own text only: documents may share calls
    dim = 64
    max_tokens = 64

    @staticmethod
    def _bucket(word: str) -> tuple[int, float]:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        return digest[0] % FakeEmbedder.dim, 1.0 if digest[1] & 1 else -1.0

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                j, sign = self._bucket(word)
                out[i, j] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(text)]


class OtherModelEmbedder(FakeEmbedder):
    """Another model of the same dimension: the fake's vectors with their
    components rotated, so the same text gets an unrelated vector."""

    model_id = "another-model"

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        return np.roll(super().embed(texts), 1, axis=1)


@pytest.fixture(scope="session", autouse=True)
def temporary_cache(tmp_path_factory: pytest.TempPathFactory):
    """ONNX exports and file hashes go to this session's own cache ($RAGDIPLO_CACHE,
    inherited by child processes): tests never read or fill the user's."""
    before = os.environ.get("RAGDIPLO_CACHE")
    os.environ["RAGDIPLO_CACHE"] = str(tmp_path_factory.mktemp("ragdiplo-cache"))
    yield Path(os.environ["RAGDIPLO_CACHE"])
    if before is None:
        os.environ.pop("RAGDIPLO_CACHE", None)
    else:
        os.environ["RAGDIPLO_CACHE"] = before


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


DOC_A = (
    "Harbour deal signed in Port Vesta\n"
    "\n"
    "The mayor of Port Vesta, Ilse Marten, signed a harbour deal worth $40 million on Tuesday. "
    "The deal pays for dredging the old channel and for two new container cranes.\n"
    "Officials said the dredging work will take 18 months to finish.\n"
)
DOC_B = (
    "Rail strike ends in Kessel\n"
    "Union leaders in Kessel agreed to end the rail strike after wages rose by 5%. "
    "The strike had lasted three weeks and stranded thousands of commuters. "
    "Trains will run again on Monday, the union said.\n"
)
DOC_C = (
    "Drought hits Oran valley farmers\n"
    "Farmers in the Oran valley reported that wheat harvests fell by 15% this year. "
    "The regional minister, Tomas Reyl, promised emergency aid of €2 million for irrigation. "
    "Rainfall was the lowest since 1976.\n"
)
TINY_DOCS = {"a.txt": DOC_A, "b.txt": DOC_B, "sub/c.txt": DOC_C}


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """A folder of three short news items (one in a subfolder) with known facts."""
    root = tmp_path / "corpus"
    for name, text in TINY_DOCS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return root


@pytest.fixture(scope="session")
def real_embedder():
    """The bundled all-MiniLM-L6-v2, loaded once per session (integration only)."""
    from ragdiplo.embed.base import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture
def seeds_dir() -> Path:
    return Path(__file__).parents[1] / "seeds"


@pytest.fixture(scope="session")
def onnx_embedder():
    """The bundled model run by ONNX Runtime (exported on first use into the cache)."""
    from ragdiplo.embed.onnx_backend import OnnxEmbedder

    return OnnxEmbedder()


@pytest.fixture(scope="session")
def openvino_embedder():
    """The bundled model run by OpenVINO (bfloat16 where the CPU has it)."""
    from ragdiplo.embed.openvino_backend import OpenVinoEmbedder

    return OpenVinoEmbedder()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-docs",
        action="store_true",
        help="tests/test_docs.py writes what each documented command prints into README.md and docs/ instead of "
        "failing where a page shows other output",
    )
