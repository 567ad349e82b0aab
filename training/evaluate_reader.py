"""Score a reader on the title-held-out validation split, gold context given.

    python training/evaluate_reader.py                      # the shipped int8 model
    python training/evaluate_reader.py --model training/runs/reader/model.float.onnx
    python training/evaluate_reader.py --near-miss training/runs/near_miss.jsonl   # made by near_miss.py

SQuAD 2.0 scoring: a question without an answer counts as right (F1 1) when
the reader abstains. ``--threshold`` is the margin (span score minus no-answer
score) a span must beat; 0 is the model's own decision.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from near_miss import is_held_out
from train_reader import DEFAULT_DATA
from windows import is_validation, load_examples

from ragdiplo.answer.readers import ReaderSpan
from ragdiplo.answer.readers.shipped import MODEL_DIR, MODEL_FILE, ExtractiveReader
from ragdiplo.eval.metrics import exact_match, token_f1


def _best(reader: ExtractiveReader, question: str, context: str) -> ReaderSpan | None:
    """The reader's best span of ``context`` with its no-answer score; None when it has no tokens."""
    (spans,) = reader.read_nbest(question, [context], 1)
    return spans[0] if spans else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="qa-train JSONL(.xz) (default: %(default)s)")
    p.add_argument("--model", type=Path, default=MODEL_DIR / MODEL_FILE, help="ONNX file (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.0, help="margin a span must beat (default: %(default)s)")
    p.add_argument("--near-miss", type=Path, default=Path("training/runs/near_miss.jsonl"),
                   help="near-miss examples (training/near_miss.py); those of held-out titles are read (default: %(default)s)")
    p.add_argument("--json", type=Path, help="write the metrics here")
    args = p.parse_args(argv)
    reader = ExtractiveReader(args.model.parent, model_file=args.model.name)
    rows = [ex for ex in load_examples(args.data) if is_validation(ex["title"])]
    f1 = em = has_f1 = has_n = no_right = no_n = 0.0
    started = time.perf_counter()
    for ex in rows:
        span = _best(reader, ex["question"], ex["context"])
        prediction = span.text if span is not None and span.margin > args.threshold else None
        golds = [a["text"] for a in ex["answers"]]
        if golds:
            score = token_f1(prediction, golds)
            f1 += score
            em += exact_match(prediction, golds)
            has_f1 += score
            has_n += 1
        else:
            right = prediction is None
            f1 += right
            em += right
            no_right += right
            no_n += 1
    # "no answer" on held-out text: each question over a paragraph of another
    # held-out article of the same source (the split holds no real unanswerables)
    by_source: dict[str, list[dict]] = {}
    for ex in rows:
        by_source.setdefault(ex["source"], []).append(ex)
    negatives = negatives_right = 0
    for i, ex in enumerate(rows):
        pool = [o for o in by_source[ex["source"]] if o["title"] != ex["title"]]
        if not pool:
            continue
        other = pool[i % len(pool)]
        span = _best(reader, ex["question"], other["context"])
        negatives += 1
        negatives_right += span is None or span.margin <= args.threshold
    # near-miss questions over the paragraph they were made from (the original
    # answer inside it): the right output is no answer. Held-out titles only:
    # "unseen" titles are the validation split, "seen text" titles had their
    # answerable questions trained on (never these near-miss questions).
    near: dict[str, list[int]] = {}
    if args.near_miss is not None and args.near_miss.is_file():
        for ex in load_examples(args.near_miss):
            if not is_held_out(ex["title"]):
                continue
            span = _best(reader, ex["question"], ex["context"])
            right = int(span is None or span.margin <= args.threshold)
            for key in (ex["near_miss"], "all", "unseen" if is_validation(ex["title"]) else "seen_text"):
                near.setdefault(key, [0, 0])
                near[key][0] += right
                near[key][1] += 1
    n = len(rows)
    out = {
        "model": args.model.name, "threshold": args.threshold, "questions": n, "titles": len({r["title"] for r in rows}),
        "f1": round(f1 / n, 4), "exact_match": round(em / n, 4),
        "answerable": int(has_n), "answerable_f1": round(has_f1 / max(1, has_n), 4),
        "unanswerable": int(no_n), "unanswerable_withheld": round(no_right / max(1, no_n), 4),
        "unrelated_contexts": negatives, "unrelated_withheld": round(negatives_right / max(1, negatives), 4),
        "near_miss_withheld": {k: {"windows": v[1], "withheld": round(v[0] / v[1], 4)} for k, v in sorted(near.items())},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
