"""The shipped extractive reader, an int8 ONNX model: n best spans of each context and its "no answer" score.

A MiniLM-L6 question-answering model trained for ragdiplo (see
``ragdiplo/models/reader/MODEL_CARD.md``), run as an int8 ONNX graph with ONNX
Runtime and the ``tokenizers`` library: no torch, nothing downloaded.

Contexts are read in windows of ``max_len`` tokens ([CLS] question [SEP]
context [SEP]), the shape the model was trained on. Consecutive windows
overlap by the longest answer the reader returns (``max_answer_tokens``), so
every answer of that length lies wholly inside some window: a window boundary
never cuts one. Each context gets its ``n`` best spans and its no-answer
score (SQuAD 2.0: the [CLS] position; the lowest over its windows), the
``Reader`` protocol's ``read_nbest``. The pipeline's ``ReaderCalibration`` was
fitted on this model's scores.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ragdiplo.answer.readers.base import ReaderSpan
from ragdiplo.embed.onnx_backend import session_options, usable_cores
from ragdiplo.errors import ConfigError, ModelError

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "reader"
MODEL_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
# A question's few 128-token windows are too small a batch to share among many
# cores: on a busy AMD 2-core machine two threads that sleep when idle read three
# windows in 108 ms, spinning ones in 187 ms.
READER_THREADS = 2
CONTEXT_CACHE = 4096  # contexts whose tokens are kept: a REPL or an eval run reads the same sentences again


@dataclass(frozen=True)
class ReaderWindows:
    """How contexts are cut: ``max_len`` tokens a window, questions cut to
    ``max_question_tokens``, answers at most ``max_answer_tokens`` long."""

    max_len: int = 128
    max_question_tokens: int = 40
    max_answer_tokens: int = 30

    def __post_init__(self) -> None:
        if self.max_question_tokens < 1 or self.max_answer_tokens < 1:
            raise ConfigError("max_question_tokens and max_answer_tokens must be at least 1")
        if self.context_tokens <= self.max_answer_tokens:
            raise ConfigError(
                f"max_len {self.max_len} leaves {self.context_tokens} context tokens, no more than an answer's "
                f"{self.max_answer_tokens}; raise max_len or lower max_answer_tokens"
            )

    @property
    def context_tokens(self) -> int:
        """Context tokens a window holds with the longest question."""
        return self.max_len - self.max_question_tokens - 3

    def stride(self, size: int) -> int:
        """Window starts for windows of ``size`` context tokens: they overlap by
        ``max_answer_tokens``."""
        return size - self.max_answer_tokens


def window_starts(n_tokens: int, size: int, stride: int) -> list[int]:
    """Starts of windows of ``size`` tokens over ``n_tokens``, ``stride`` apart,
    the last one ending at the final token."""
    if n_tokens <= size:
        return [0]
    starts = list(range(0, n_tokens - size, stride))
    starts.append(n_tokens - size)
    return starts


def _span_scores(start: np.ndarray, end: np.ndarray, first: int, last: int, max_tokens: int) -> np.ndarray:
    """``start[i] + end[j]`` for ``first <= i <= j <= last``, ``j - i < max_tokens``;
    ``-inf`` elsewhere, indexed from ``first``."""
    s = start[first : last + 1]
    e = end[first : last + 1]
    n = len(s)
    i, j = np.indices((n, n))
    return np.where((j >= i) & (j - i < max_tokens), s[:, None] + e[None, :], -np.inf)


def best_span(start: np.ndarray, end: np.ndarray, first: int, last: int, max_tokens: int) -> tuple[float, int, int]:
    """The highest ``start[i] + end[j]`` with ``first <= i <= j <= last`` and
    ``j - i < max_tokens``, as (score, i, j)."""
    return top_spans(start, end, first, last, max_tokens, 1)[0]


def top_spans(
    start: np.ndarray, end: np.ndarray, first: int, last: int, max_tokens: int, n: int
) -> list[tuple[float, int, int]]:
    """The ``n`` highest-scoring allowed spans, best first, as (score, i, j)."""
    scores = _span_scores(start, end, first, last, max_tokens)
    width = scores.shape[1]
    flat = scores.ravel()
    n = min(n, int(np.isfinite(flat).sum()))
    picked = np.argpartition(-flat, n - 1)[:n] if n < len(flat) else np.arange(len(flat))
    picked = picked[np.argsort(-flat[picked], kind="stable")][:n]
    return [(float(flat[k]), first + int(k) // width, first + int(k) % width) for k in picked]


class ExtractiveReader:
    """Reads contexts for a question with an extractive QA graph in ONNX.

    ``read_nbest`` returns, for every context, its best spans with ``score``
    (the span's start+end logits) and ``no_answer`` (the [CLS] score): the
    model finds an answer where ``score > no_answer`` (``ReaderSpan.margin > 0``).
    ``threads``: ONNX Runtime's intra-op threads (default ``READER_THREADS``, or
    fewer where fewer cores are usable).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] = MODEL_DIR,
        *,
        model_file: str = MODEL_FILE,
        windows: ReaderWindows = ReaderWindows(),
        threads: int | None = None,
    ) -> None:
        folder = Path(model_dir)
        model_path, tokenizer_path = folder / model_file, folder / TOKENIZER_FILE
        for path in (model_path, tokenizer_path):
            if not path.is_file():
                raise ModelError(f"{path}: the reader model is missing; reinstall ragdiplo or pass a reader folder")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as err:
            raise ModelError(f"the reader needs onnxruntime and tokenizers ({err}); run `pip install ragdiplo`") from None
        options = session_options(threads or min(READER_THREADS, usable_cores()))
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types
            raise ModelError(f"{model_path}: cannot load the reader model ({err})") from None
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._cls = self._token_id("[CLS]")
        self._sep = self._token_id("[SEP]")
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.windows = windows
        self.model_id = f"{folder.name}/{model_file}"  # its sha256 is in the model card, not hashed at start-up
        self._encode_context = lru_cache(maxsize=CONTEXT_CACHE)(self._encode)

    def __repr__(self) -> str:
        return f"ExtractiveReader({self.model_id!r}, max_len={self.windows.max_len})"

    def _token_id(self, token: str) -> int:
        found = self._tokenizer.token_to_id(token)
        if found is None:
            raise ModelError(f"the reader's tokenizer has no {token} token")
        return int(found)

    def _encode(self, text: str) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        return tuple(enc.ids), tuple(enc.offsets)

    def read_nbest(self, question: str, contexts: Sequence[str], n: int) -> list[list[ReaderSpan]]:
        """Up to ``n`` distinct spans of each context, best first, each with the
        context's no-answer score (the lowest over its windows); none for a
        context with no tokens."""
        q_ids = list(self._encode(question)[0][: self.windows.max_question_tokens])
        size = self.windows.max_len - len(q_ids) - 3
        rows: list[list[int]] = []
        owners: list[tuple[int, int]] = []  # (context, first context token of the window)
        encoded = [self._encode_context(c) for c in contexts]
        for c, (ids, _) in enumerate(encoded):
            if not ids:
                continue
            for lo in window_starts(len(ids), size, self.windows.stride(size)):
                rows.append([self._cls, *q_ids, self._sep, *ids[lo : lo + size], self._sep])
                owners.append((c, lo))
        if not rows:
            return [[] for _ in contexts]
        start, end = self._logits(rows, len(q_ids))
        offset = len(q_ids) + 2  # position of the first context token in a row
        found: dict[int, dict[tuple[int, int], float]] = {}
        null: dict[int, float] = {}
        for r, (c, lo) in enumerate(owners):
            last = offset + len(rows[r]) - offset - 2
            null[c] = min(null.get(c, np.inf), float(start[r, 0] + end[r, 0]))
            spans = found.setdefault(c, {})
            for score, i, j in top_spans(start[r], end[r], offset, last, self.windows.max_answer_tokens, n):
                key = (lo + i - offset, lo + j - offset)
                spans[key] = max(score, spans.get(key, -np.inf))
        out: list[list[ReaderSpan]] = [[] for _ in contexts]
        for c, spans in found.items():
            offsets = encoded[c][1]
            for (i, j), score in sorted(spans.items(), key=lambda kv: -kv[1])[:n]:
                s, e = offsets[i][0], offsets[j][1]
                out[c].append(ReaderSpan(contexts[c][s:e], score, s, e, no_answer=null[c]))
        return out

    def _logits(self, rows: list[list[int]], q_len: int) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for k, r in enumerate(rows):
            ids[k, : len(r)] = r
            mask[k, : len(r)] = 1
            types[k, q_len + 2 : len(r)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        start, end = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
        start = np.where(mask > 0, start, -np.inf)
        end = np.where(mask > 0, end, -np.inf)
        return start, end


@lru_cache(maxsize=1)
def default_reader() -> ExtractiveReader:
    """The shipped reader, loaded once per process."""
    return ExtractiveReader()
