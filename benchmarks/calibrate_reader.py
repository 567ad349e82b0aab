"""Fit the reader's answer confidence and abstention threshold on gold sets.

Each question is answered by the reader without abstaining; its evidence
(``ragdiplo.answer.answering.READER_FEATURES``) and whether the answer was
right (contains a gold answer and cites the evidence; for an unanswerable
question, never) train a logistic model of P(right). The threshold maximises
the share of questions handled well (answered right, or left unanswered when
the corpus has no answer), averaged over the sets so that a small set counts as
much as a large one. Prints the fitted ``ReaderCalibration`` and a
risk-coverage table; ``--json`` keeps every number.

These are development sets: report results on them as "calibrated on".

    python benchmarks/calibrate_reader.py \\
        --set ../shared/gold/seeds_dev.jsonl seeds \\
        --set gold/seeds_extra.jsonl seeds \\
        --set ../shared/data/squad-dev-open/gold.jsonl ../shared/data/squad-dev-open/corpus --limit 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import handled_well, open_qa

from ragdiplo import QAConfig
from ragdiplo.answer.answering import READER_FEATURES, read_best
from ragdiplo.answer.confidence import ReaderCalibration
from ragdiplo.answer.retrieval import rank_rows
from ragdiplo.embed.base import embed_question
from ragdiplo.eval.metrics import aurc, risk_coverage
from ragdiplo.eval.run import contains_answer, overlaps, read_gold


def collect(gold_path: str, corpus: str, limit: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, right/wrong and answerable flags of each question's unabstained answer."""
    config = QAConfig()
    qa = open_qa(corpus, None, config)
    gold = read_gold(gold_path, {d.id: d for d in qa.index.documents})[:limit]
    features, right, answerable = [], [], []
    for q in gold:
        vector = embed_question(qa.embedder, q.question)
        ranked = rank_rows(qa.index, q.question, vector, config.retrieval)
        best = read_best(qa.index, q.question, vector, ranked, qa.reader, config)
        if best is None:
            continue
        text = qa.index.documents[best.doc_row].text[best.start : best.end]
        c = best.citation
        cited = overlaps(c.doc_id, c.start, c.end, q.evidence)
        features.append(best.features)
        right.append(q.answerable and cited and contains_answer(text, q.answers))
        answerable.append(q.answerable)
    return np.array(features), np.array(right), np.array(answerable)


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-2) -> tuple[float, np.ndarray]:
    """Weighted L2-regularised logistic regression by Newton's method."""
    X = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(X.shape[1])
    reg = np.full(X.shape[1], l2)
    reg[0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(X @ beta, -50, 50)))
        grad = X.T @ (w * (p - y)) + reg * beta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return float(beta[0]), beta[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", nargs=2, action="append", metavar=("GOLD", "CORPUS"), required=True)
    parser.add_argument("--limit", type=int, help="use the first N questions of each set")
    parser.add_argument("--json", type=Path, help="write the fit and its tables here")
    args = parser.parse_args()
    sets = [(gold, *collect(gold, corpus, args.limit)) for gold, corpus in args.set]
    x = np.vstack([s[1] for s in sets])
    y = np.concatenate([s[2] for s in sets]).astype(float)
    balance = np.concatenate([np.full(len(s[2]), len(y) / (len(sets) * len(s[2]))) for s in sets])
    bias, coef = fit_logistic(x, y, balance)
    probs = [1 / (1 + np.exp(-(bias + s[1] @ coef))) for s in sets]
    grid = np.round(np.arange(0.05, 0.81, 0.01), 2)
    mean_well = [np.mean([handled_well(p, s[2], s[3], t) for p, s in zip(probs, sets)]) for t in grid]
    threshold = float(grid[int(np.argmax(mean_well))])
    config = QAConfig()
    fitted = ReaderCalibration.fitted(round(bias, 4), {n: round(float(c), 4) for n, c in zip(READER_FEATURES, coef)}, threshold,
                                      {name: getattr(config, name) for name, _ in ReaderCalibration().fitted_with})
    print(fitted)
    report: dict = {"calibration": dataclasses.asdict(fitted), "features": READER_FEATURES, "sets": []}
    print(f"\n{'set':<28} {'n':>5} {'handled well':>12} {'coverage':>9} {'risk':>6} {'AURC':>6}")
    for p, (gold, _, right, answerable) in zip(probs, sets):
        curve = risk_coverage(p, right)
        answered = p >= threshold
        risk = float(np.mean(~right[answered])) if answered.any() else 0.0
        well = handled_well(p, right, answerable, threshold)
        name = os.path.basename(gold)
        print(f"{name:<28} {len(right):>5} {well:>12.3f} {answered.mean():>9.3f} {risk:>6.3f} {aurc(curve):>6.3f}")
        report["sets"].append({"gold": name, "questions": len(right), "handled_well": well,
                               "coverage": float(answered.mean()), "risk": risk, "aurc": aurc(curve)})
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
