"""Export a trained reader to the shipped ONNX files.

    python training/export_reader.py --run training/runs/reader

Writes ``<run>/model.float.onnx`` (float32, for comparison) and the shipped
``ragdiplo/models/reader/model.int8.onnx`` (weights quantised to int8 with ONNX
Runtime's dynamic quantisation) with ``tokenizer.json`` beside it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoModelForQuestionAnswering

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_reader import base_model_path

SHIPPED = Path(__file__).resolve().parents[1] / "ragdiplo" / "models" / "reader"


class _Logits(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.start_logits, out.end_logits


def load_trained(run: Path) -> torch.nn.Module:
    """The run's final model, or its latest checkpoint when it has not finished."""
    final = run / "final"
    if (final / "config.json").is_file():
        return AutoModelForQuestionAnswering.from_pretrained(final).eval()
    model = AutoModelForQuestionAnswering.from_pretrained(base_model_path())
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    print(f"no final model yet: using the checkpoint at step {state['step']}")
    return model.eval()


def export(model: torch.nn.Module, path: Path) -> None:
    ids = torch.ones(2, 128, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    axes |= {"start_logits": {0: "batch", 1: "tokens"}, "end_logits": {0: "batch", 1: "tokens"}}
    with torch.no_grad():
        torch.onnx.export(
            _Logits(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["start_logits", "end_logits"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=Path("training/runs/reader"), help="run folder (default: %(default)s)")
    p.add_argument("--out", type=Path, default=SHIPPED, help="shipped model folder (default: %(default)s)")
    args = p.parse_args(argv)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_path = args.run / "model.float.onnx"
    export(load_trained(args.run), float_path)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "model.int8.onnx.tmp"
    quantize_dynamic(str(float_path), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    tmp.replace(args.out / "model.int8.onnx")
    shutil.copyfile(base_model_path() / "tokenizer.json", args.out / "tokenizer.json")
    for f in (float_path, args.out / "model.int8.onnx"):
        print(f"{f}: {f.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
