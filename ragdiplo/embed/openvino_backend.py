"""The same exported graph run by OpenVINO: in bfloat16 where the CPU computes it natively,
on texts packed into rows of one fixed shape.

Building an index is embedding: every passage and every sentence of the corpus.
On a CPU with bfloat16 instructions (AVX512-BF16 or AMX) OpenVINO runs the
matrix products in bfloat16 with float32 sums, which halves the CPU time of a
build; the vectors keep a cosine of at least 0.99995 to the float32 ones and the
answers of every measured question set stay the same (README, Performance).
Elsewhere it computes in float32 and builds no faster than ONNX Runtime (slower,
on an AMD EPYC with AVX2 only), so the default picks it only on a CPU with
bfloat16 instructions (``factory.choose_runtime``).

OpenVINO prepares kernels for every input shape it meets, so the model is
compiled for one: a few rows of the model's full width (256 tokens), into which
``packing`` fits as many texts as it can; a token attends only to tokens of its
own text. A build then pays no per-shape preparation and almost no padding (a
third less time on the seeds than texts run at their own widths). A text's
vector still depends on its own tokens alone, bit for bit, whatever row or
neighbours it gets (tested), so documents share calls and an update equals a
rebuild.

A question is one short text: a whole fixed-shape call would cost it ten times
what it needs, so ``embed_query`` hands questions to ONNX Runtime on the same
graph, which is also what answers questions to a saved index. An index built
in-process and the same index loaded back therefore answer identically.

The precision is recorded beside the model (``precision``: bfloat16 or
float32), not in its name: the vectors of either agree with ONNX Runtime's to a
cosine of 0.99996 or more, so an index made by one is searched and extended by
the others (``ragdiplo.index.compat``); its edits prefer the backend and
precision it records, which keeps an update identical to a rebuild bit for bit.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ragdiplo.embed.base import Backend, Precision, normalize
from ragdiplo.embed.export import GRAPH_INPUTS
from ragdiplo.embed.onnx_backend import OnnxEmbedder
from ragdiplo.embed.packing import pack
from ragdiplo.errors import ModelError


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
    """A local mean-pooling BERT sentence-transformers folder (``None``: the
    bundled default) run by OpenVINO on the CPU. ``bf16=None`` uses bfloat16 when
    the CPU has it; ``False`` keeps float32 everywhere. ``batch_tokens`` is the
    size of one call in tokens (rows of the model's width); other arguments as
    ``OnnxEmbedder``."""

    backend = Backend.OPENVINO
    # two 256-token rows a call measured fastest: one row costs 18% more a token,
    # four or eight no less, and a last, part-empty call wastes more
    default_batch_tokens = 512

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        bf16: bool | None = None,
        threads: int | None = None,
        batch_tokens: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._bf16 = bf16
        self._query_args = (model, threads, cache_dir)
        self._query_embedder: OnnxEmbedder | None = None
        self._query_lock = threading.Lock()
        super().__init__(model, threads=threads, batch_tokens=batch_tokens, cache_dir=cache_dir)

    def _open(self, path: Path, threads: int) -> tuple[Callable[[dict[str, np.ndarray]], np.ndarray], int, Precision]:
        ov = _import_openvino()
        self.width = self.max_tokens + 2  # what the tokenizer truncates every text to
        self.rows = max(1, self.batch_tokens // self.width)
        try:
            core = ov.Core()
            bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") if self._bf16 is None else self._bf16
            config = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32", "INFERENCE_NUM_THREADS": threads,
                      "PERFORMANCE_HINT": "LATENCY"}
            model = core.read_model(str(path))
            model.reshape({name: [self.rows, self.width] for name in GRAPH_INPUTS})
            compiled = core.compile_model(model, "CPU", config)
        except Exception as err:  # OpenVINO raises its own untyped errors
            raise ModelError(f"{path}: OpenVINO cannot run it on this CPU ({err}); set RAGDIPLO_BACKEND=onnx, "
                             "or delete the file to export it again") from None
        used_bf16 = "bfloat16" in str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        request, output = compiled.create_infer_request(), compiled.outputs[0]
        lock = threading.Lock()  # one infer request: calls from several threads take turns

        def infer(feed: dict[str, np.ndarray]) -> np.ndarray:
            with lock:
                return np.array(request.infer(feed)[output], dtype=np.float32)

        dim = int(output.get_partial_shape()[-1].get_length())
        return infer, dim, Precision.BFLOAT16 if used_bf16 else Precision.FLOAT32

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed texts packed into fixed rows; rows come back in the order given."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        rows = pack(lengths, self.width)
        shape = (self.rows, self.width)
        for first in range(0, len(rows), self.rows):
            call = rows[first : first + self.rows]
            ids, positions, segments = (np.zeros(shape, dtype=np.int64) for _ in range(3))  # segment 0: padding
            for r, row in enumerate(call):
                for segment, (i, at) in enumerate(row, start=1):
                    n = lengths[i]
                    ids[r, at : at + n] = encodings[i].ids
                    positions[r, at : at + n] = np.arange(n)
                    segments[r, at : at + n] = segment
            hidden = self._infer({"input_ids": ids, "position_ids": positions, "segment_ids": segments})
            for r, row in enumerate(call):
                for i, at in row:
                    out[i] = hidden[r, at : at + lengths[i]].mean(axis=0)
        return normalize(out)

    def embed_query(self, text: str) -> np.ndarray:
        """One question's vector, from ONNX Runtime (loaded on the first question):
        exactly what ``QA.load`` asks a saved index with."""
        return self._questions().embed_query(text)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Questions' vectors from ONNX Runtime, several a call (``embed_query`` of each)."""
        return self._questions().embed_queries(texts)

    def _questions(self) -> OnnxEmbedder:
        with self._query_lock:
            if self._query_embedder is None:
                model, threads, cache_dir = self._query_args
                self._query_embedder = OnnxEmbedder(model, threads=threads, cache_dir=cache_dir)
        return self._query_embedder
