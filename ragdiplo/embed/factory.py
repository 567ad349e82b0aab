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
    GRAPH,
    ONNX_SUFFIX,
    OPENVINO_SUFFIX,
    Backend,
    SentenceTransformerEmbedder,
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
