"""Fit the answer-confidence model and the abstention threshold on gold sets.

Every question is answered without abstaining; the evidence features of each
answer (``ragdiplo.answer.rules.evidence_features``) and whether it was right (contains a
gold answer and cites the evidence; for an unanswerable question, never) train
a logistic model of P(right). The threshold is the one that maximises, averaged
over the sets so that a small set counts as much as a large one, the share of
questions handled well: answered right, or left unanswered when the corpus has
no answer. Prints the fitted ``Calibration`` and a risk–coverage table.

    python benchmarks/calibrate.py \\
        --set ../shared/gold/seeds_dev.jsonl seeds \\
        --set gold/seeds_extra.jsonl seeds \\
        --set ../shared/data/squad-dev-open/gold.jsonl ../shared/data/squad-dev-open/corpus
"""

from __future__ import annotations

import argparse
import os

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import fit_logistic, handled_well, open_qa

from ragdiplo import QAConfig
from ragdiplo.answer.confidence import SENTENCE_SCORING, Calibration
from ragdiplo.answer.question import Question
from ragdiplo.answer.retrieval import rank_rows
from ragdiplo.answer.rules import evidence_features, score_sentences
from ragdiplo.embed.base import SentenceTransformerEmbedder
from ragdiplo.eval.metrics import aurc, risk_coverage
from ragdiplo.eval.run import contains_answer, overlaps, read_gold


def collect(gold_path: str, corpus: str, embedder: SentenceTransformerEmbedder) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, right/wrong and answerable flags of each question's unabstained answer."""
    never_abstain = QAConfig(min_dense=-1.0, calibration=Calibration(threshold=0.0), reader=None)
    qa = open_qa(corpus, embedder, never_abstain)
    gold = read_gold(gold_path, {d.id: d for d in qa.index.documents})
    vectors = embedder.embed([q.question for q in gold])
    features, right = [], []
    for q, vector in zip(gold, vectors):
        answer = qa.ask(q.question)
        question = Question.of(q.question)
        ranked = rank_rows(qa.index, question, vector, never_abstain.retrieval)
        scored = score_sentences(qa.index, question, vector, ranked, never_abstain)
        features.append(evidence_features(qa.index, question, scored))
        cited = any(overlaps(c.doc_id, c.start, c.end, q.evidence) for c in answer.citations)
        right.append(q.answerable and cited and contains_answer(answer.text, q.answers))
    return np.array(features), np.array(right), np.array([q.answerable for q in gold])


def fit(features: np.ndarray, right: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    return fit_logistic(features, right, weights, l2=0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", nargs=2, action="append", metavar=("GOLD", "CORPUS"), required=True)
    args = parser.parse_args()
    embedder = SentenceTransformerEmbedder()
    sets = [(gold, *collect(gold, corpus, embedder)) for gold, corpus in args.set]
    features = np.vstack([s[1] for s in sets])
    right = np.concatenate([s[2] for s in sets])
    balance = np.concatenate([np.full(len(s[2]), len(right) / (len(sets) * len(s[2]))) for s in sets])
    bias, coef = fit(features, right, balance)
    probs = [1 / (1 + np.exp(-(bias + s[1] @ coef))) for s in sets]
    grid = np.round(np.arange(0.0, 0.61, 0.01), 2)
    mean_well = [np.mean([handled_well(p, s[2], s[3], t) for p, s in zip(probs, sets)]) for t in grid]
    threshold = float(grid[int(np.argmax(mean_well))])
    settings = QAConfig(reader=None)
    calibration = Calibration.fitted(bias, dict(zip(Calibration.FEATURES, map(float, coef))), threshold,
                                     {name: getattr(settings, name) for name, _ in SENTENCE_SCORING})
    print(calibration)
    print(f"\n{'set':<40} {'handled well':>12} {'coverage':>9} {'risk':>6} {'AURC':>6}")
    for p, (gold, _, right_s, answerable) in zip(probs, sets):
        curve = risk_coverage(p, right_s)
        answered = p >= threshold
        risk = float(np.mean(~right_s[answered])) if answered.any() else 0.0
        well = handled_well(p, right_s, answerable, threshold)
        print(f"{os.path.basename(gold):<40} {well:>12.3f} {answered.mean():>9.3f} {risk:>6.3f} {aurc(curve):>6.3f}")
        for c in (0.2, 0.4, 0.6, 0.8, 1.0):
            i = max(0, int(round(c * len(curve))) - 1)
            print(f"    coverage {curve[i][0]:.2f}: risk {curve[i][1]:.3f}")


if __name__ == "__main__":
    main()
