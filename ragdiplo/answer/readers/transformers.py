"""Any extractive question-answering model from transformers as a reader."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ragdiplo.answer.readers import ReaderSpan
from ragdiplo.errors import ModelError


class TransformersReader:
    """An extractive question-answering model from transformers
    (``AutoModelForQuestionAnswering``), loaded from a local folder or given
    as a model and tokenizer already built.

    A context yields no answer when the model's no-answer score (the first
    token, as SQuAD 2.0 models are trained) beats its best span.
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

    def read(self, question: str, contexts: Sequence[str]) -> list[ReaderSpan | None]:
        out: list[ReaderSpan | None] = []
        for i in range(0, len(contexts), self.batch_size):
            out.extend(self._read_batch(question, list(contexts[i : i + self.batch_size])))
        return out

    def _read_batch(self, question: str, contexts: list[str]) -> list[ReaderSpan | None]:
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
            self._best(context, starts[b], ends[b], offsets[b], enc.sequence_ids(b))
            for b, context in enumerate(contexts)
        ]

    def _best(
        self, context: str, start: list[float], end: list[float], offsets: list[list[int]], seq: list[int | None]
    ) -> ReaderSpan | None:
        tokens = [i for i, s in enumerate(seq) if s == 1 and offsets[i][1] > offsets[i][0]]
        best: tuple[float, int, int] | None = None
        for a, i in enumerate(tokens):
            for j in tokens[a : a + self.max_answer_tokens]:
                if best is None or start[i] + end[j] > best[0]:
                    best = (start[i] + end[j], i, j)
        if best is None or best[0] <= start[0] + end[0]:
            return None
        s, e = offsets[best[1]][0], offsets[best[2]][1]
        return ReaderSpan(context[s:e], best[0], s, e)


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
