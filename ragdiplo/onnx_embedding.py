"""The same sentence-transformers model run by ONNX Runtime, without torch.

Importing torch and transformers takes seconds, which is most of a cold start;
this embedder needs only ``tokenizers`` and ``onnxruntime`` (a tenth of a
second). It reads the model folder's own ``tokenizer.json`` and applies what the
folder's sentence-transformers config says (mean pooling over the attention
mask, then L2 normalisation), on a graph exported locally from the folder's
weights by ``onnx_export.py`` (nothing is downloaded).

Its vectors equal the torch model's within about 2e-7 per component (tested on
real text), the same size as torch's own differences between batches. Stored
vectors still record which backend made them (``model_id`` ends in ``+onnx``),
so an index is never updated with vectors of another backend and an update stays
identical to a full rebuild bit for bit; ``query_ids`` says which indexes its
question vectors are exact enough to search.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .embedding import DEFAULT_MODEL_ID, ONNX_SUFFIX, default_model_path, normalize
from .errors import ModelError

def supports(folder: Path) -> bool:
    """True when the folder is Transformer -> mean Pooling (-> Normalize), the only
    layout this embedder reproduces."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        config = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, StopIteration):
        return False
    others = [k for k in kinds if k not in ("Transformer", "Pooling", "Normalize")]
    modes = [k for k, v in config.items() if k.startswith("pooling_mode_") and v]
    layout = kinds[:2] == ["Transformer", "Pooling"] and not others and modes == ["pooling_mode_mean_tokens"]
    return layout and (folder / "tokenizer.json").is_file()


def _max_seq_length(folder: Path) -> int:
    try:
        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 512


class OnnxEmbedder:
    """A local sentence-transformers folder (``None``: the bundled default) run by
    ONNX Runtime. ``threads`` sets ONNX Runtime's intra-op threads (default:
    the cores this process may use; on an idle 2-core machine two threads embed
    a build's batches a third faster than one, with identical vectors, while on
    a machine crowded by other jobs ``threads=1`` is faster; see README,
    Performance)."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        batch_tokens: int = 512,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        folder = default_model_path() if model is None else Path(model)
        if not folder.is_dir() or not supports(folder):
            raise ModelError(
                f"{folder}: not a local sentence-transformers folder with mean pooling; "
                "use SentenceTransformerEmbedder for this model"
            )
        from .onnx_export import ensure_export

        base = DEFAULT_MODEL_ID if model is None else folder.name
        self.model_id = base + ONNX_SUFFIX
        self.query_ids = frozenset({base, self.model_id})
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.max_tokens = _max_seq_length(folder) - 2
        self._tokenizer = _load_tokenizer(folder, self.max_tokens + 2)
        self._span_tokenizer = _load_tokenizer(folder, None)
        self._session = _load_session(ensure_export(folder, cache_dir), threads or _usable_cores())
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def embed(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed in batches of similar length (sorted by token count), so little
        of each batch is padding; rows come back in the order given."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        for rows in self._batches([len(e.ids) for e in encodings]):
            out[rows] = self._run([encodings[i] for i in rows])
        return normalize(out)

    def _batches(self, lengths: list[int]) -> list[np.ndarray]:
        """Rows sorted by length, cut into batches of at most ``batch_size`` texts
        and ``batch_tokens`` padded tokens: small batches of long texts keep the
        activations in the CPU's caches (a third less CPU time on the seeds' texts)."""
        order = np.argsort(lengths, kind="stable")
        batches, start = [], 0
        for end in range(1, len(order) + 1):
            full = end - start > self.batch_size or (end - start) * lengths[order[end - 1]] > self.batch_tokens
            if full and end - 1 > start:
                batches.append(order[start : end - 1])
                start = end - 1
        batches.append(order[start:])
        return batches

    def _run(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        enc = self._span_tokenizer.encode(text, add_special_tokens=False)
        return [(int(s), int(e)) for s, e in enc.offsets if e > s]


def _load_tokenizer(folder: Path, max_length: int | None) -> Any:
    """The folder's fast tokenizer as sentence-transformers sets it up: truncation
    at the model's sequence length (``None``: none, for sizing passages), no
    padding (batches are padded here)."""
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


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _load_session(path: Path, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ModelError(f"onnxruntime is not installed ({err}); run `pip install onnxruntime`") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors
        raise ModelError(f"{path}: ONNX Runtime cannot load it ({err}); delete it to export it again") from None
