"""Score a TREC run file with pytrec_eval (trec_eval's own code), independently of
ragdiplo, to check the numbers ``ragdiplo eval`` printed for a BEIR folder.

    pip install pytrec_eval-terrier        # or: pip install -e .[test]
    python benchmarks/check_trec.py /tmp/run.trec ../shared/data/beir-scifact/qrels/test.tsv --against /tmp/m.json

Prints the mean over the judged queries of nDCG@10, recall@100 and MRR@10 (the
reciprocal rank of the run cut to its top 10 per query), and with ``--against``
the values in an ``eval --json`` file beside them. Reads the files with nothing
from ragdiplo.
"""

from __future__ import annotations

import argparse
import json

import pytrec_eval


def read_run(path: str) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            qid, _, docid, _, score, _ = line.split()
            run.setdefault(qid, {})[docid] = float(score)
    return run


def read_qrels(path: str) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] != "query-id":
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("qrels")
    parser.add_argument("--against", help="an `ragdiplo eval --json` file to compare with")
    args = parser.parse_args()
    run, qrels = read_run(args.run), read_qrels(args.qrels)
    top10 = {q: dict(sorted(d.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:10]) for q, d in run.items()}
    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(run)
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    n = len(qrels)  # a judged query missing from the run scores 0
    theirs = {
        "ndcg@10": sum(v["ndcg_cut_10"] for v in full.values()) / n,
        "recall@100": sum(v["recall_100"] for v in full.values()) / n,
        "mrr@10": sum(v["recip_rank"] for v in rr.values()) / n,
    }
    ours = json.load(open(args.against, encoding="utf-8"))["metrics"] if args.against else {}
    print(f"{n} judged queries, {len(full)} of them in the run")
    print(f"{'metric':<11} {'pytrec_eval':>12}" + (f" {'ragdiplo':>12} {'difference':>11}" if ours else ""))
    for name, value in theirs.items():
        extra = f" {ours[name]:>12.6f} {abs(ours[name] - value):>11.1e}" if ours else ""
        print(f"{name:<11} {value:>12.6f}{extra}")


if __name__ == "__main__":
    main()
