"""Which embedder runs a model: OpenVINO for builds, ONNX Runtime for questions,
sentence-transformers (torch) for anything they cannot run.

Each backend pays for itself. OpenVINO builds indexes about twice as fast as
ONNX Runtime (bfloat16 on CPUs that compute it natively, texts packed into
fixed rows): it is what makes a build at least twice as fast as Haystack's
(``benchmarks/run.py``). ONNX Runtime starts in a tenth of a second without
torch, which is most of a cold question. torch runs the models neither of the
others can (not a BERT with mean pooling, or a name in the Hugging Face cache).
Their vectors of one model agree closely enough to be mixed in one index
(``ragdiplo.index.compat``), so the choice is a matter of speed only.

Kept apart from ``base`` so the backends can import the shared names there
without a cycle through this choice.
"""

from __future__ import annotations

import os
from pathlib import Path

from ragdiplo.embed.base import (
    DEFAULT_MODEL_ID,
    Backend,
    Embedder,
    Precision,
    SentenceTransformerEmbedder,
    default_model_path,
)
from ragdiplo.errors import ModelError


def default_embedder(
    model: str | os.PathLike[str] | None = None,
    backend: Backend | str | None = None,
    precision: Precision | str | None = None,
) -> Embedder:
    """The embedder the command line and ``QA`` use for a local mean-pooling model
    (the bundled one): OpenVINO when installed and able to run here, else ONNX
    Runtime; any other model runs in sentence-transformers. ``backend`` (or ``$RAGDIPLO_BACKEND``) forces
    one. ``precision`` is OpenVINO's: float32 keeps it there, bfloat16 or None
    uses bfloat16 where the CPU computes it natively. OpenVINO is the default
    because it builds indexes about twice as fast with answers unchanged; both
    start without importing torch (README, Performance)."""
    forced = backend or os.environ.get("RAGDIPLO_BACKEND")
    choice = Backend(forced or _fastest_runtime())
    if choice is not Backend.TORCH and (model is None or Path(model).is_dir()):
        from ragdiplo.embed.onnx_backend import OnnxEmbedder, supports

        if supports(default_model_path() if model is None else Path(model)):
            if choice is Backend.OPENVINO:
                from ragdiplo.embed.openvino_backend import OpenVinoEmbedder

                try:
                    return OpenVinoEmbedder(model, bf16=False if precision == Precision.FLOAT32 else None)
                except ModelError:
                    if forced:
                        raise  # asked for by name: say why it cannot run
            return OnnxEmbedder(model)  # also where OpenVINO is installed but cannot run here
    return SentenceTransformerEmbedder(model)


def _fastest_runtime() -> Backend:
    import importlib.util

    return Backend.OPENVINO if importlib.util.find_spec("openvino") else Backend.ONNX


def _check_model(model_id: str, model: str | os.PathLike[str] | None) -> None:
    """The bundled model is found from its id alone; another model's folder must be given."""
    if model is None and model_id != DEFAULT_MODEL_ID:
        raise ModelError(
            f"the index was built with the model {model_id!r}; {how_to_embed_for(model_id)}",
            cli_message=f"the index was built with the model {model_id!r}; pass its folder with --model PATH",
        )


def query_embedder(model_id: str = DEFAULT_MODEL_ID, model: str | os.PathLike[str] | None = None) -> Embedder:
    """The embedder for questions to an index of ``model_id`` (made by any
    backend): ONNX Runtime, whose vectors agree with all of them and which
    starts fastest (a cold start is mostly loading the model);
    ``$RAGDIPLO_BACKEND=torch`` keeps torch."""
    _check_model(model_id, model)
    forced = os.environ.get("RAGDIPLO_BACKEND")
    return default_embedder(model, Backend.TORCH if forced == Backend.TORCH.value else Backend.ONNX)


def index_embedder(
    model_id: str,
    backend: Backend | None = None,
    precision: Precision = Precision.FLOAT32,
    model: str | os.PathLike[str] | None = None,
) -> Embedder:
    """The embedder to edit an index of ``model_id``: the backend and precision
    the index records when they can run here (an edit then embeds new texts
    exactly as a rebuild would), else the default one, whose vectors still agree
    with the index's. The bundled model is found from the id alone; another
    model's folder must be given as ``model``."""
    _check_model(model_id, model)
    if backend is not None:
        try:
            return default_embedder(model, backend, precision)
        except ModelError:
            pass  # e.g. OpenVINO not installed here: any backend of the model will do
    return default_embedder(model)


def how_to_embed_for(model_id: str) -> str:
    """What to pass to edit or search an index of ``model_id``, for an error message."""
    if model_id != DEFAULT_MODEL_ID:
        return f"pass an embedder of that model, e.g. default_embedder('path/to/{model_id}')"
    return "leave the embedder out (edit_index(path), QA.load(path)) or pass default_embedder()"
