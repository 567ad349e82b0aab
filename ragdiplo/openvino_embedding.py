"""The same exported graph run by OpenVINO: in bfloat16 where the CPU computes it natively.

Building an index is embedding: every passage and every sentence of the corpus.
On a CPU with bfloat16 instructions (AVX512-BF16 or AMX) OpenVINO runs the
matrix products in bfloat16 with float32 sums, which halves the CPU time of a
build; the vectors keep a cosine of at least 0.99995 to the float32 ones and the
answers of every measured question set stay the same (README, Performance).
Elsewhere it computes in float32, like ONNX Runtime.

The precision is part of the vectors' identity: ``model_id`` ends in
``+openvino-bf16`` or ``+openvino``, so an index is only ever updated with
vectors of its own kind (a machine without bfloat16 rebuilds instead). Batches
hold texts of one width only, as in ``OnnxEmbedder``, which is what keeps a
text's vector independent of its neighbours in bfloat16 too (tested).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .embedding import BF16, OPENVINO_SUFFIX
from .errors import ModelError
from .onnx_embedding import OnnxEmbedder


def _import_openvino() -> Any:
    """``openvino``, imported without its usage telemetry.

    The package's ``__init__`` imports its model converter, which on every import
    sends an event to Google Analytics from a forked process (the
    ``openvino-telemetry`` package; on unless the user opted out) and writes a
    client id under ``~/intel``. An offline library must not phone home: while
    ``openvino_telemetry`` cannot be imported, OpenVINO falls back to its own
    no-op stub. Nothing else changes; if the caller imported OpenVINO before,
    its choice stands.
    """
    blocked = "openvino" not in sys.modules and "openvino_telemetry" not in sys.modules
    if blocked:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # import fails -> OpenVINO's stub
    try:
        import openvino
    except ImportError as err:
        raise ModelError(f"openvino is not installed ({err}); run `pip install openvino` "
                         "or set RAGDIPLO_BACKEND=onnx") from None
    finally:
        if blocked:
            del sys.modules["openvino_telemetry"]
    return openvino


class OpenVinoEmbedder(OnnxEmbedder):
    """A local mean-pooling sentence-transformers folder (``None``: the bundled
    default) run by OpenVINO on the CPU. ``bf16=None`` uses bfloat16 when the CPU
    has it; ``False`` keeps float32 everywhere. Other arguments as ``OnnxEmbedder``."""

    default_batch_tokens = 2048  # bfloat16 kernels gain from bigger batches: 2048 measured fastest
    # OpenVINO prepares its kernels for each new input shape (a fifth of a small
    # build); widths in steps of 16 tokens make 3-4 times fewer shapes, and RAM
    # 0.5 GB instead of 0.9 at SQuAD's size, for the same steady speed
    pad_to = 16

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        bf16: bool | None = None,
        threads: int | None = None,
        batch_size: int = 32,
        batch_tokens: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._bf16 = bf16
        super().__init__(model, threads=threads, batch_size=batch_size, batch_tokens=batch_tokens, cache_dir=cache_dir)

    def _open(self, path: Path, threads: int) -> tuple[Callable[[dict[str, np.ndarray]], np.ndarray], int, str]:
        ov = _import_openvino()
        try:
            core = ov.Core()
            bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") if self._bf16 is None else self._bf16
            config = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32", "INFERENCE_NUM_THREADS": threads,
                      "PERFORMANCE_HINT": "LATENCY"}
            compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        except Exception as err:  # OpenVINO raises its own untyped errors
            raise ModelError(f"{path}: OpenVINO cannot run it on this CPU ({err}); set RAGDIPLO_BACKEND=onnx, "
                             "or delete the file to export it again") from None
        used_bf16 = "bfloat16" in str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        request, output = compiled.create_infer_request(), compiled.outputs[0]
        inputs = {i.get_any_name() for i in compiled.inputs}
        lock = threading.Lock()  # one infer request: calls from several threads take turns

        def infer(feed: dict[str, np.ndarray]) -> np.ndarray:
            with lock:
                result = request.infer({k: v for k, v in feed.items() if k in inputs})
                return np.array(result[output], dtype=np.float32)

        dim = int(output.get_partial_shape()[-1].get_length())
        return infer, dim, OPENVINO_SUFFIX + (BF16 if used_bf16 else "")
