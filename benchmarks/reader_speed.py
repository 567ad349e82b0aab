"""Warm ask latency on the seeds with the shipped reader and with the rules.

    python benchmarks/reader_speed.py [--reps 5] [--json OUT]

Builds the seeds index in memory, asks every seeds dev question once to warm
up, then ``--reps`` times each, timing ``QA.ask`` (question vectors cached
after the first pass, as in a REPL; ``--cold-vectors`` embeds every time).
Prints p50/p95 in milliseconds and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragdiplo import QA, QAConfig

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT.parent / "shared" / "gold" / "seeds_dev.jsonl"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--gold", type=Path, default=GOLD)
    p.add_argument("--json", type=Path)
    p.add_argument("--cold-vectors", action="store_true", help="embed the question on every ask")
    args = p.parse_args()
    questions = [json.loads(line)["question"] for line in args.gold.read_text().splitlines() if line.strip()]
    reader_qa = QA.build(ROOT / "seeds")
    results = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "load_before": os.getloadavg()}
    for name, qa in (("reader", reader_qa), ("rules", QA(reader_qa.index, reader_qa.embedder, QAConfig(reader=None)))):
        for q in questions:
            qa.ask(q)
        times = []
        for _ in range(args.reps):
            for q in questions:
                if args.cold_vectors:
                    qa._question_vector.cache_clear()
                t = time.perf_counter()
                qa.ask(q)
                times.append((time.perf_counter() - t) * 1000)
        times.sort()
        results[name] = {"asks": len(times), "p50_ms": round(statistics.median(times), 2),
                         "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}
        print(f"{name:>7}: p50 {results[name]['p50_ms']:.1f} ms, p95 {results[name]['p95_ms']:.1f} ms "
              f"over {len(times)} asks")
    results["load_after"] = os.getloadavg()
    print(f"load average before {results['load_before'][0]:.2f}, after {results['load_after'][0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
