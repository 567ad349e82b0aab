"""Training windows for the reader: question + a short stretch of context.

The reader reads windows of at most ``max_len`` tokens ([CLS] question [SEP]
context [SEP]), the same shape at training and at answer time. A window is
labelled with the answer's first and last token, or with position 0 ([CLS])
when no whole answer lies inside it (SQuAD 2.0's convention).

Splits are by title, so validation measures articles the model never saw.
Everything here is deterministic given the seed.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_QUESTION_TOKENS = 40


@dataclass(frozen=True)
class Window:
    """One training window as token ids and its answer's token positions."""

    input_ids: list[int]
    token_type_ids: list[int]
    start: int  # 0 = no answer
    end: int


def load_examples(path: Path) -> list[dict[str, Any]]:
    opener = lzma.open if str(path).endswith(".xz") else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        return [json.loads(line) for line in f]


def is_validation(title: str, percent: int = 5) -> bool:
    """A fixed ``percent`` of titles, chosen by hash, never trained on."""
    return int(hashlib.sha256(title.encode("utf-8")).hexdigest(), 16) % 100 < percent


class Windower:
    """Turns examples into windows; tokenizes each context once."""

    def __init__(self, tokenizer: Any, max_len: int = 128) -> None:
        self.tokenizer = tokenizer
        self.max_len = max_len
        self._contexts: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}

    def context(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        if text not in self._contexts:
            enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            self._contexts[text] = (enc["input_ids"], enc["offset_mapping"])
        return self._contexts[text]

    def question(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids[:MAX_QUESTION_TOKENS]

    def budget(self, question_ids: list[int]) -> int:
        return self.max_len - len(question_ids) - 3

    def make(self, question_ids: list[int], context_ids: list[int], lo: int, span: tuple[int, int] | None) -> Window:
        """The window of context tokens ``lo:lo+budget``; ``span`` in context
        token positions, kept only when it lies wholly inside."""
        hi = min(len(context_ids), lo + self.budget(question_ids))
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        ids = [cls, *question_ids, sep, *context_ids[lo:hi], sep]
        types = [0] * (len(question_ids) + 2) + [1] * (hi - lo + 1)
        base = len(question_ids) + 2 - lo
        if span is not None and lo <= span[0] and span[1] < hi:
            return Window(ids, types, span[0] + base, span[1] + base)
        return Window(ids, types, 0, 0)


def answer_tokens(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """First and last token overlapping the character span ``start:end``."""
    first = last = None
    for i, (s, e) in enumerate(offsets):
        if e > start and s < end:
            if first is None:
                first = i
            last = i
    return None if first is None or last is None else (first, last)


def windows_for(example: dict[str, Any], w: Windower, rng: random.Random, other_context: str | None) -> list[Window]:
    """A positive window around the answer (answer placed at random inside),
    plus, with some probability, negatives: a stretch of the same context
    without the answer, or the question over another article's paragraph."""
    q = w.question(example["question"])
    budget = w.budget(q)
    out: list[Window] = []
    ctx, offs = w.context(example["context"])
    n = len(ctx)
    if "anchor_start" in example:  # a near-miss: placed where the original answer was, labelled "no answer"
        anchor = answer_tokens(offs, example["anchor_start"], example["anchor_end"])
        if anchor is None or anchor[1] - anchor[0] >= budget:
            return []
        lo_min, lo_max = max(0, anchor[1] - budget + 1), min(anchor[0], max(0, n - budget))
        return [w.make(q, ctx, rng.randint(lo_min, max(lo_min, lo_max)), None)]
    if example["is_impossible"] or not example["answers"]:
        lo = rng.randrange(0, max(1, n - budget + 1))
        return [w.make(q, ctx, lo, None)]
    a = example["answers"][0]
    span = answer_tokens(offs, a["answer_start"], a["answer_start"] + len(a["text"]))
    if span is None or span[1] - span[0] >= budget:
        return []
    lo_min, lo_max = max(0, span[1] - budget + 1), min(span[0], max(0, n - budget))
    out.append(w.make(q, ctx, rng.randint(lo_min, max(lo_min, lo_max)), span))
    if n > budget and rng.random() < 0.15:
        before, after = span[0] - budget, span[1] + 1
        choices = ([rng.randint(0, before)] if before >= 0 else []) + ([rng.randint(after, n - budget)] if after <= n - budget else [])
        if choices:
            out.append(w.make(q, ctx, rng.choice(choices), None))
    if other_context is not None and rng.random() < 0.15:
        octx, _ = w.context(other_context)
        out.append(w.make(q, octx, rng.randrange(0, max(1, len(octx) - budget + 1)), None))
    return out


def build_epoch(examples: list[dict[str, Any]], w: Windower, seed: int) -> list[Window]:
    """One epoch's windows, shuffled; a different draw of positions per seed.

    The "other article" for a made-up negative comes from the same source when
    possible (a paragraph on a different title), which makes near-miss
    negatives rather than trivially off-topic ones."""
    rng = random.Random(seed)
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_source[ex["source"]].append(i)
    out: list[Window] = []
    for ex in examples:
        pool = by_source[ex["source"]]
        other = examples[rng.choice(pool)]
        other_ctx = other["context"] if other["title"] != ex["title"] else None
        out.extend(windows_for(ex, w, rng, other_ctx))
    rng.shuffle(out)
    return out
