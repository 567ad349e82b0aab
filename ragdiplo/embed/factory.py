"""Which embedder runs a model: OpenVINO for builds, ONNX Runtime for questions,
sentence-transformers (torch) for anything they cannot run.

Kept apart from ``base`` so the backends can import the shared names there
without a cycle through this choice.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ragdiplo.embed.base import (
    BF16,
    DEFAULT_MODEL_ID,
    GRAPH,
    ONNX_SUFFIX,
    OPENVINO_SUFFIX,
    Backend,
    SentenceTransformerEmbedder,
    base_model_id,
    default_model_path,
)
from ragdiplo.errors import ModelError


def default_embedder(model: str | os.PathLike[str] | None = None, backend: Backend | str | None = None) -> Any:
    """The embedder the command line and ``QA`` use for a local mean-pooling model
    (the bundled one): OpenVINO when installed and able to run here, else ONNX
    Runtime; any other model runs in sentence-transformers. ``backend`` (or ``$RAGDIPLO_BACKEND``) forces
    one. OpenVINO is the default because it builds indexes about twice as fast
    (bfloat16 on CPUs that compute it natively) with answers unchanged; both
    start without importing torch (README, Performance)."""
    forced = backend or os.environ.get("RAGDIPLO_BACKEND")
    choice = Backend(forced or _fastest_runtime())
    if choice is not Backend.TORCH and (model is None or Path(model).is_dir()):
        from ragdiplo.embed.onnx_backend import OnnxEmbedder, supports

        if supports(default_model_path() if model is None else Path(model)):
            if choice is Backend.OPENVINO:
                from ragdiplo.embed.openvino_backend import OpenVinoEmbedder

                try:
                    return OpenVinoEmbedder(model)
                except ModelError:
                    if forced:
                        raise  # asked for by name: say why it cannot run
            return OnnxEmbedder(model)  # also where OpenVINO is installed but cannot run here
    return SentenceTransformerEmbedder(model)


def _fastest_runtime() -> Backend:
    import importlib.util

    return Backend.OPENVINO if importlib.util.find_spec("openvino") else Backend.ONNX


def backend_of(model_id: str) -> Backend:
    """The backend whose vectors an index with this model id holds."""
    model_id = model_id.removesuffix(GRAPH)
    if model_id.endswith(ONNX_SUFFIX):
        return Backend.ONNX
    if model_id.endswith((OPENVINO_SUFFIX, OPENVINO_SUFFIX + BF16)):
        return Backend.OPENVINO
    return Backend.TORCH


def query_embedder(model_id: str, model: str | os.PathLike[str] | None = None) -> Any:
    """The embedder for questions to an index built with ``model_id`` (by any
    backend): ONNX Runtime, whose vectors are exact enough for all of them and
    which starts fastest (a cold start is mostly loading the model);
    ``$RAGDIPLO_BACKEND=torch`` keeps torch."""
    forced = os.environ.get("RAGDIPLO_BACKEND")
    return default_embedder(model, Backend.TORCH if forced == Backend.TORCH.value else Backend.ONNX)


def index_embedder(model_id: str, model: str | os.PathLike[str] | None = None) -> Any:
    """The embedder whose vectors match an index built with ``model_id``: the same
    model run by the same backend, so an edit embeds new texts exactly as a
    rebuild would. The bundled model is found from the id alone; another model's
    folder must be given as ``model``."""
    base = base_model_id(model_id)
    if model is None and base != DEFAULT_MODEL_ID:
        raise ModelError(f"the index was built with the model folder {base!r}; pass its embedder, "
                         f"e.g. default_embedder('path/to/{base}', backend='{backend_of(model_id).value}')")
    return default_embedder(model, backend_of(model_id))


def how_to_embed_for(model_id: str) -> str:
    """What to pass to edit an index of ``model_id``, for an error message."""
    backend = backend_of(model_id).value
    if base_model_id(model_id) != DEFAULT_MODEL_ID:
        return f"pass default_embedder('path/to/{base_model_id(model_id)}', backend='{backend}')"
    return f"leave the embedder out (edit_index(path)) or pass default_embedder(backend='{backend}')"
