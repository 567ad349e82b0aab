"""The shipped extractive reader: a span of the context, or "no answer".

A MiniLM-L6 question-answering model trained for ragdiplo (see
``ragdiplo/models/reader/MODEL_CARD.md``), run as an int8 ONNX graph with ONNX
Runtime and the ``tokenizers`` library: no torch, nothing downloaded.

Contexts are read in windows of ``max_len`` tokens ([CLS] question [SEP]
context [SEP]), the shape the model was trained on. Consecutive windows
overlap by the longest answer the reader returns (``max_answer_tokens``), so
every answer of that length lies wholly inside some window: a window boundary
never cuts one. Each context gets
its best span and its no-answer score (SQuAD 2.0: the [CLS] position; the
lowest over its windows).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ragdiplo.answer.reader import ReaderSpan
from ragdiplo.errors import ConfigError, ModelError

MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "reader"
MODEL_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"


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


def best_span(start: np.ndarray, end: np.ndarray, first: int, last: int, max_tokens: int) -> tuple[float, int, int]:
    """The highest ``start[i] + end[j]`` with ``first <= i <= j <= last`` and
    ``j - i < max_tokens``, as (score, i, j)."""
    s = start[first : last + 1]
    e = end[first : last + 1]
    n = len(s)
    scores = s[:, None] + e[None, :]
    i, j = np.indices((n, n))
    scores = np.where((j >= i) & (j - i < max_tokens), scores, -np.inf)
    flat = int(np.argmax(scores))
    a, b = divmod(flat, n)
    return float(scores[a, b]), first + a, first + b


class ExtractiveReader:
    """Reads contexts for a question with an extractive QA graph in ONNX.

    ``read`` returns, for every context, its best span with ``score`` (the
    span's start+end logits) and ``no_answer`` (the [CLS] score): the context
    holds an answer when ``score > no_answer`` (``ReaderSpan.margin > 0``).
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
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
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
        self.model_id = f"{folder.name}/{model_file}#{_sha256(model_path)[:12]}"
        self._encode_context = lru_cache(maxsize=4096)(self._encode)

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

    def read(self, question: str, contexts: Sequence[str]) -> list[ReaderSpan | None]:
        """The best span of each context with its no-answer score (``None``
        for a context with no tokens)."""
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
        out: list[ReaderSpan | None] = [None] * len(contexts)
        if not rows:
            return out
        start, end = self._logits(rows, len(q_ids))
        offset = len(q_ids) + 2  # position of the first context token in a row
        best: dict[int, tuple[float, int, int]] = {}
        null: dict[int, float] = {}
        for r, (c, lo) in enumerate(owners):
            n = len(rows[r]) - offset - 1
            score, i, j = best_span(start[r], end[r], offset, offset + n - 1, self.windows.max_answer_tokens)
            null[c] = min(null.get(c, np.inf), float(start[r, 0] + end[r, 0]))
            if c not in best or score > best[c][0]:
                best[c] = (score, lo + i - offset, lo + j - offset)
        for c, (score, i, j) in best.items():
            offsets = encoded[c][1]
            s, e = offsets[i][0], offsets[j][1]
            out[c] = ReaderSpan(contexts[c][s:e], score, s, e, no_answer=null[c])
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_reader_available() -> bool:
    return (MODEL_DIR / MODEL_FILE).is_file() and (MODEL_DIR / TOKENIZER_FILE).is_file()


@lru_cache(maxsize=1)
def default_reader() -> Any:
    """The shipped reader, loaded once per process."""
    return ExtractiveReader()
