"""The recency tie-break measured: the seeds with their dates (the example
sidecar), each gold set answered with and without it.

    python benchmarks/recency.py [--margins 0,1,2,4]

``gold/seeds_latest.jsonl`` asks for the latest news ("now", "latest", "most
recently"); the other sets mostly do not, and a question without a time word
is answered the same either way (the tie-break only runs for time words), so
they show what the tie-break costs where it does run. Margin 0 is off; the
shipped ``QAConfig.recency_margin`` is 2.0, set to the conflict margin (the
same notion of a close call) before this set was written or measured.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragdiplo.answer.question import asks_for_latest
from ragdiplo.answer.settings import QAConfig
from ragdiplo.eval.run import predict, read_gold, score
from ragdiplo.qa import QA

ROOT = Path(__file__).resolve().parent.parent
SETS = [ROOT / "gold" / "seeds_latest.jsonl", ROOT.parent / "shared" / "gold" / "seeds_dev.jsonl",
        ROOT / "gold" / "seeds_extra.jsonl", ROOT / "gold" / "seeds_holdout.jsonl", ROOT / "gold" / "seeds_conflicts.jsonl"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--margins", default="0,1,2,4", help="recency margins to compare (0 = off)")
    args = parser.parse_args()
    margins = [float(m) for m in args.margins.split(",")]
    qa = QA.build(ROOT / "seeds", metadata=ROOT / "examples" / "seeds-metadata.jsonl")
    print(f"{'set':<24} {'q.':>4} {'time words':>10} " + " ".join(f"{'c-w-c@' + format(m, 'g'):>9}" for m in margins))
    for path in SETS:
        if not path.is_file():
            continue
        gold = read_gold(path, {d.id: d for d in qa.index.documents})
        cells = []
        for m in margins:
            answers = QA(qa.index, qa.embedder, QAConfig(recency_margin=m)).ask_iter
            cells.append(score(gold, predict(gold, answers))["correct_with_citation"])
        timed = sum(asks_for_latest(q.question) for q in gold)
        print(f"{path.name:<24} {len(gold):>4} {timed:>10} " + " ".join(f"{c:>9.3f}" for c in cells))


if __name__ == "__main__":
    main()
