"""Write one fixed half of a gold set: the questions the confidence was
fitted on (``--half fit``) or the others (``--half other``), split by a hash of
the question id exactly as ``calibrate_reader.py`` splits them, so that
``ragdiplo eval`` can report the half nothing was fitted on.

    python benchmarks/halves.py ../shared/data/squad-dev-open/unanswerable.jsonl --half other --out /tmp/unanswerable-other.jsonl
    ragdiplo eval /tmp/unanswerable-other.jsonl --index /tmp/squad_idx
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path


def fitted_half(question_id: str) -> bool:
    """The fixed half of a set the fit may see: by a hash of the question id."""
    return int(hashlib.sha256(question_id.encode("utf-8")).hexdigest(), 16) % 2 == 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("gold", type=Path)
    p.add_argument("--half", choices=("fit", "other"), required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    lines = [line for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    keep = [line for line in lines if fitted_half(str(json.loads(line)["id"])) == (args.half == "fit")]
    args.out.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
    print(f"{len(keep)} of {len(lines)} questions ({args.half} half) written to {args.out}")


if __name__ == "__main__":
    main()
