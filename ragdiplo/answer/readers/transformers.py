"""Any transformers question-answering model as a ``Reader``.

It reads each context in one pass of the model (a context longer than
``max_length`` tokens is cut), and scores spans and "no answer" as SQuAD 2.0
models are trained: a span by its start and end logits, "no answer" by those of
the first token ([CLS]).
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Sequence
from typing import Any

from ragdiplo.answer.readers.base import ReaderSpan
from ragdiplo.errors import ModelError


class TransformersReader:
    """An extractive question-answering model from transformers
    (``AutoModelForQuestionAnswering``), loaded from a local folder or given
    as a model and tokenizer already built.

    Each span comes with its context's no-answer score (the first token's, as
    SQuAD 2.0 models are trained); a span that scores below it has a negative
    margin. The pipeline's confidence was fitted for the shipped reader, so
    refit it for this model (``benchmarks/calibrate_reader.py``).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | Any,
        tokenizer: Any = None,
        *,
        batch_size: int = 8,
        max_length: int = 384,
        max_answer_tokens: int = 30,
    ) -> None:
        if isinstance(model, (str, os.PathLike)):
            model, tokenizer = _load(model)
        if tokenizer is None:
            raise ModelError("a TransformersReader built from a model object needs its tokenizer too")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.max_answer_tokens = max_answer_tokens

    def read_nbest(self, question: str, contexts: Sequence[str], n: int) -> list[list[ReaderSpan]]:
        """Up to ``n`` distinct spans of each context, best first, each with the
        context's no-answer score; none for a context with no tokens."""
        out: list[list[ReaderSpan]] = []
        for i in range(0, len(contexts), self.batch_size):
            out.extend(self._read_batch(question, list(contexts[i : i + self.batch_size]), n))
        return out

    def _read_batch(self, question: str, contexts: list[str], n: int) -> list[list[ReaderSpan]]:
        import torch

        enc = self.tokenizer(
            [question] * len(contexts),
            contexts,
            truncation="only_second",
            max_length=self.max_length,
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = enc.pop("offset_mapping").tolist()
        with torch.inference_mode():
            logits = self.model(**enc)
        starts, ends = logits.start_logits.tolist(), logits.end_logits.tolist()
        return [
            self._nbest(context, starts[b], ends[b], offsets[b], enc.sequence_ids(b), n)
            for b, context in enumerate(contexts)
        ]

    def _nbest(
        self, context: str, start: list[float], end: list[float], offsets: list[list[int]], seq: list[int | None], n: int
    ) -> list[ReaderSpan]:
        tokens = [i for i, s in enumerate(seq) if s == 1 and offsets[i][1] > offsets[i][0]]
        spans = ((start[i] + end[j], i, j) for a, i in enumerate(tokens) for j in tokens[a : a + self.max_answer_tokens])
        no_answer = start[0] + end[0]
        return [
            ReaderSpan(context[offsets[i][0] : offsets[j][1]], score, offsets[i][0], offsets[j][1], no_answer=no_answer)
            for score, i, j in heapq.nlargest(n, spans, key=lambda span: span[0])
        ]


def _load(path: str | os.PathLike[str]) -> tuple[Any, Any]:
    try:
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        model = AutoModelForQuestionAnswering.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"cannot load a question-answering model from {path} ({err}); "
            "give a local folder holding a transformers QA model and its tokenizer"
        ) from None
    return model, tokenizer
