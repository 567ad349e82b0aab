"""The same sentence-transformers model run by ONNX Runtime, without torch.

Importing torch and transformers takes seconds, which is most of a cold start;
this embedder needs only ``tokenizers`` and ``onnxruntime`` (a tenth of a
second). It reads the model folder's own ``tokenizer.json`` and applies what the
folder's sentence-transformers config says (mean pooling over the attention
mask, then L2 normalisation), on a graph exported locally from the folder's
weights by ``onnx_export.py`` (nothing is downloaded).

Its vectors equal the torch model's within about 2e-7 per component (tested on
real text), the same size as torch's own differences between batches, so it
searches and extends indexes of the same model made by any backend
(``ragdiplo.index.compat``); an index records ``backend = onnx`` so that its
edits prefer this one, and an update is then identical to a rebuild bit for bit.

A text is always run at the same width, its own token count, in a batch of
texts of that width only: no padding. Its vector then depends on its own tokens
alone, bit for bit, whatever else is in the call (tested), so the index embeds
many documents per call and still gives an update exactly what a rebuild gives
(``batch_invariant``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ragdiplo.embed.base import DEFAULT_MODEL_ID, Backend, Embedder, Precision, default_model_path, normalize
from ragdiplo.errors import ModelError


def supports(folder: Path) -> bool:
    """True when the folder is a BERT transformer -> mean Pooling (-> Normalize),
    what this embedder reproduces. BERT because the exported graph is given each
    token's position, counted from 0 in its own text; other families count
    differently (RoBERTa from its padding id) and run in sentence-transformers."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        config = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
        family = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, KeyError, StopIteration, AttributeError):
        return False
    others = [k for k in kinds if k not in ("Transformer", "Pooling", "Normalize")]
    modes = [k for k, v in config.items() if k.startswith("pooling_mode_") and v]
    layout = kinds[:2] == ["Transformer", "Pooling"] and not others and modes == ["pooling_mode_mean_tokens"]
    return layout and family == "bert" and (folder / "tokenizer.json").is_file()


def _max_seq_length(folder: Path) -> int:
    try:
        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 512


class OnnxEmbedder(Embedder):
    """A local sentence-transformers folder (``None``: the bundled default) run by
    ONNX Runtime. ``threads`` sets ONNX Runtime's intra-op threads (default:
    the cores this process may use, which builds want: on an idle 2-core machine
    two threads embed a build's batches a third faster than one, with identical
    vectors, while on a machine crowded by other jobs ``threads=1`` is faster;
    see README, Performance); idle threads sleep rather than spin
    (``session_options``). ``batch_tokens`` caps the tokens of a batch (default:
    what measured fastest for the runtime)."""

    backend = Backend.ONNX
    batch_invariant = True  # a text's vector does not depend on the other texts of a call
    default_batch_tokens = 512  # a 200-token passage a batch keeps ONNX Runtime's activations in cache

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        batch_tokens: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        folder = default_model_path() if model is None else Path(model)
        if not folder.is_dir() or not supports(folder):
            raise ModelError(
                f"{folder}: not a local sentence-transformers folder with mean pooling; "
                "use SentenceTransformerEmbedder for this model"
            )
        from ragdiplo.embed.export import ensure_export

        self.model_id = DEFAULT_MODEL_ID if model is None else folder.name
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens or self.default_batch_tokens
        self.max_tokens = _max_seq_length(folder) - 2
        self._folder = folder
        self._tokenizer = _load_tokenizer(folder, self.max_tokens + 2)
        self._infer, self.dim, self.precision = self._open(ensure_export(folder, cache_dir), threads or usable_cores())

    def _open(self, path: Path, threads: int) -> tuple[Callable[[dict[str, np.ndarray]], np.ndarray], int, Precision]:
        """The runtime: a function from the graph's inputs to its last hidden
        state, the vector dimension, and the precision it computes in."""
        session = _load_session(path, threads)

        def infer(feed: dict[str, np.ndarray]) -> np.ndarray:
            return session.run(None, feed)[0]

        return infer, int(session.get_outputs()[0].shape[-1]), Precision.FLOAT32

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed in batches of texts of one width; rows come back in the order given."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        for rows in self._batches([len(e.ids) for e in encodings]):
            out[rows] = self._run([encodings[i] for i in rows])
        return normalize(out)

    def _batches(self, lengths: list[int]) -> list[np.ndarray]:
        """Rows grouped by token count, each group cut into batches of at most
        ``batch_size`` texts and ``batch_tokens`` tokens. A text is never padded to
        suit its neighbours: padding changes the shapes of the model's sums, and
        with them the last bits of a vector. (ONNX Runtime pays nothing for a new
        shape; OpenVINO, which does, packs texts into fixed rows instead.)"""
        widths = np.asarray(lengths, dtype=np.int64)
        order = np.argsort(widths, kind="stable")
        batches: list[np.ndarray] = []
        for group in np.split(order, np.flatnonzero(np.diff(widths[order])) + 1):
            if len(group):
                step = max(1, min(self.batch_size, self.batch_tokens // max(1, int(widths[group[0]]))))
                batches.extend(group[i : i + step] for i in range(0, len(group), step))
        return batches

    def _run(self, encodings: list[Any]) -> np.ndarray:
        """Mean of the last hidden state of texts of one token count, one a row."""
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        positions = np.broadcast_to(np.arange(ids.shape[1], dtype=np.int64), ids.shape)
        hidden = self._infer({"input_ids": ids, "position_ids": positions, "segment_ids": np.ones_like(ids)})
        return hidden.mean(axis=1)

    @cached_property
    def _span_tokenizer(self) -> Any:
        """The tokenizer without truncation, which sizes passages: loaded when a
        text is first cut into passages (a question process never is)."""
        return _load_tokenizer(self._folder, None)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        enc = self._span_tokenizer.encode(text, add_special_tokens=False)
        return [(int(s), int(e)) for s, e in enc.offsets if e > s]


def _load_tokenizer(folder: Path, max_length: int | None) -> Any:
    """The folder's fast tokenizer as sentence-transformers sets it up: truncation
    at the model's sequence length (``None``: none, for sizing passages), no
    padding (texts are run at their own widths or packed into rows)."""
    try:
        from tokenizers import Tokenizer
    except ImportError as err:
        raise ModelError(f"tokenizers is not installed ({err}); run `pip install tokenizers`") from None
    file = folder / "tokenizer.json"
    if not file.is_file():
        raise ModelError(f"{file}: missing; this model needs SentenceTransformerEmbedder")
    tokenizer = Tokenizer.from_file(str(file))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    if max_length is not None:
        tokenizer.enable_truncation(max_length)
    return tokenizer


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def session_options(threads: int) -> Any:
    """ONNX Runtime's settings for a CPU that other work shares: ``threads``
    intra-op threads that sleep when they run out of work instead of spinning
    (``session.intra_op.allow_spinning`` 0), one inter-op thread, every graph
    optimisation. Spinning threads hold their cores between the model's
    operators; on an AMD 2-core machine with a load of 2, three reader windows
    took 187 ms spinning and 108 ms without. Outputs are the same either way."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ModelError(f"onnxruntime is not installed ({err}); run `pip install onnxruntime`") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _load_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = session_options(threads)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors
        raise ModelError(f"{path}: ONNX Runtime cannot load it ({err}); delete it to export it again") from None
