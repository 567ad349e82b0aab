"""Fit the learned decision (``ragdiplo/answer/decision.py``) and report it.

The weights are a logistic regression (scikit-learn, standardised features,
its L2 strength chosen by five-fold cross-validation grouped by question) over
the candidates of ``--train`` runs (``training/decision_data.py qa-train``):
each candidate labelled right or wrong. The threshold is then chosen on the
fitted halves (by question id, ``benchmarks/halves.py``) of the ``--dev`` sets:
the one that handles most questions well (answered right, or withheld when
the corpus has no answer), averaged over the sets. Every table reports each
set's other half, never fitted on, and the ``--report`` sets whole.

Each set is simulated from its candidates as the pipeline answers: the best
candidate is the answer, cited by its sentence; "right" as ``ragdiplo eval``
counts correct-with-citation (holds a gold answer, its sentence overlaps the
evidence). ``--ablation`` refits without each feature group in turn; the
"v1 ranking" row ranks by margin + 10 x sentence score and withholds with
today's ``ReaderCalibration``, as the pipeline did before the decision.

    python training/fit_decision.py --train training/runs/decision/qa-train-held-out.npz \\
        --dev training/runs/decision/{seeds_dev,seeds_extra,squad_dev,unanswerable}.npz \\
        --report training/runs/decision/{seeds_holdout,seeds_nearmiss}.npz --ablation
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from halves import fitted_half  # the halves calibrate_reader.py and halves.py split by

from ragdiplo.answer.candidates import FEATURE_GROUPS, FEATURES
from ragdiplo.answer.confidence import ReaderCalibration

OLD_SENTENCE_WEIGHT = 10.0


@dataclass
class Set:
    name: str
    x: np.ndarray  # candidates x features
    right: np.ndarray
    f1: np.ndarray
    owner: np.ndarray  # candidate -> question index
    qids: np.ndarray
    answerable: np.ndarray

    @classmethod
    def load(cls, path: str, label: str = "f1") -> Set:
        z = np.load(path)
        names = list(z["feature_names"])
        x = z["features"][:, [names.index(f) for f in FEATURES]] if len(z["features"]) else np.zeros((0, len(FEATURES)))
        qids = z["question_ids"]
        where = {q: i for i, q in enumerate(qids)}
        owner = np.array([where[q] for q in z["qid"]], dtype=int)
        right = {"f1": z["right"], "contains": z["contains"] & z["cites"],
                 "tight": z["contains"] & z["cites"] & (z["f1"] >= 0.5)}[label]  # fmt: skip
        return cls(Path(path).stem, x, right, z["f1"], owner, qids, z["answerable"])

    def half(self, fit: bool) -> Set:
        keep_q = np.array([fitted_half(str(q)) == fit for q in self.qids], dtype=bool)
        remap = -np.ones(len(self.qids), dtype=int)
        remap[keep_q] = np.arange(keep_q.sum())
        keep_c = keep_q[self.owner]
        suffix = "fit" if fit else "other"
        return Set(f"{self.name}/{suffix}", self.x[keep_c], self.right[keep_c], self.f1[keep_c],
                   remap[self.owner[keep_c]], self.qids[keep_q], self.answerable[keep_q])  # fmt: skip

    def top(self, score: np.ndarray) -> np.ndarray:
        """Per question, the index of its best-scored candidate (-1: none)."""
        best = -np.ones(len(self.qids), dtype=int)
        best_score = np.full(len(self.qids), -np.inf)
        for i, (q, s) in enumerate(zip(self.owner, score)):
            if s > best_score[q]:
                best[q], best_score[q] = i, s
        return best

    def outcome(self, score: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
        top = self.top(score)
        answered = np.array([t >= 0 and p[t] >= threshold for t in top])
        right = np.array([t >= 0 and bool(self.right[t]) for t in top]) & answered
        f1 = np.array([self.f1[t] if t >= 0 else 0.0 for t in top]) * answered
        ans, un = self.answerable, ~self.answerable
        return {
            "questions": float(len(top)),
            "correct_with_citation": float(right[ans].mean()) if ans.any() else math.nan,
            "token_f1": float(f1[ans].mean()) if ans.any() else math.nan,
            "false_abstention": float((~answered[ans]).mean()) if ans.any() else math.nan,
            "withheld_unanswerable": float((~answered[un]).mean()) if un.any() else math.nan,
            "handled_well": float((right | (~answered & un)).mean()),
        }


def logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def fit(train: Set, columns: list[int]) -> tuple[float, np.ndarray, float]:
    """Bias and raw-scale weights (zero outside ``columns``) of a logistic
    regression, its inverse L2 strength chosen by grouped cross-validation."""
    x = train.x[:, columns]
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = (x - mu) / sd
    best = (math.inf, 1.0)
    for c in (0.01, 0.1, 1.0, 10.0):
        loss = 0.0
        for tr, te in GroupKFold(n_splits=5).split(z, train.right, train.owner):
            model = LogisticRegression(C=c, max_iter=2000).fit(z[tr], train.right[tr])
            p = np.clip(model.predict_proba(z[te])[:, 1], 1e-9, 1 - 1e-9)
            loss -= float(np.sum(np.where(train.right[te], np.log(p), np.log(1 - p))))
        best = min(best, (loss, c))
    model = LogisticRegression(C=best[1], max_iter=2000).fit(z, train.right)
    w = np.zeros(len(FEATURES))
    w[columns] = model.coef_[0] / sd
    bias = float(model.intercept_[0] - np.sum(model.coef_[0] * mu / sd))
    return bias, w, best[1]


def choose_threshold(sets: list[Set], score: list[np.ndarray], p: list[np.ndarray]) -> float:
    grid = np.round(np.arange(0.02, 0.96, 0.01), 2)
    return float(
        max(
            grid,
            key=lambda t: (np.mean([s.outcome(sc, pp, t)["handled_well"] for s, sc, pp in zip(sets, score, p)]), -t),
        )
    )


def old_scores(s: Set) -> tuple[np.ndarray, np.ndarray]:
    """The pipeline before the decision: rank by margin + 10 x sentence score,
    P(right) from ReaderCalibration over the same evidence."""
    col = {f: s.x[:, FEATURES.index(f)] for f in FEATURES}
    rank = col["margin"] + OLD_SENTENCE_WEIGHT * col["sentence"]
    cal = ReaderCalibration()
    named = {"margin": col["margin"], "rank": col["rank"], "dense": col["dense"], "unknown_name": col["unknown_name"],
             "names_missing": col["names_missing"]}  # fmt: skip
    z = cal.bias + sum(getattr(cal, f) * named[f] for f in ReaderCalibration.FEATURES)
    return rank, logistic(z)


def table(rows: list[tuple[str, str, dict[str, float]]]) -> str:
    out = ["| variant | set | questions | c-w-c | token F1 | false abstention | unanswerable withheld |",
           "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for variant, name, o in rows:
        cells = [f"{o[k]:.3f}" if not math.isnan(o[k]) else "–" for k in
                 ("correct_with_citation", "token_f1", "false_abstention", "withheld_unanswerable")]  # fmt: skip
        out.append(f"| {variant} | {name} | {int(o['questions'])} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--dev", nargs="+", default=[])
    parser.add_argument("--report", nargs="+", default=[])
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--label", choices=("f1", "contains", "tight"), default="f1",
                        help="a training candidate is right: token F1 >= 0.5 at the gold place, or it holds the gold "
                             "answer at its place (as correct-with-citation counts), or both")  # fmt: skip
    parser.add_argument("--json", help="write the fitted decision here")
    args = parser.parse_args(argv)
    parts = [Set.load(p, args.label) for p in args.train]
    train = Set("train", np.vstack([p.x for p in parts]), np.concatenate([p.right for p in parts]),
                np.concatenate([p.f1 for p in parts]),
                np.concatenate([p.owner + sum(len(q.qids) for q in parts[:i]) for i, p in enumerate(parts)]),
                np.concatenate([p.qids for p in parts]), np.concatenate([p.answerable for p in parts]))  # fmt: skip
    print(f"train: {len(train.qids)} questions ({int((~train.answerable).sum())} unanswerable), "
          f"{len(train.x)} candidates, {int(train.right.sum())} right")  # fmt: skip
    dev = [Set.load(p) for p in args.dev]
    fit_sets = [s.half(True) for s in dev]
    shown = [s.half(False) for s in dev] + [Set.load(p) for p in args.report]
    variants = {"all features": list(range(len(FEATURES)))}
    if args.ablation:
        for group, names in FEATURE_GROUPS.items():
            variants[f"without {group}"] = [i for i, f in enumerate(FEATURES) if f not in names]
    rows = []
    scores = [old_scores(s) for s in fit_sets]
    old_t = ReaderCalibration().threshold
    for s in shown:
        rows.append(("v1 ranking", s.name, s.outcome(*old_scores(s), old_t)))
    fitted = {}
    for variant, columns in variants.items():
        bias, w, c = fit(train, columns)
        scores = [bias + s.x @ w for s in fit_sets]
        threshold = choose_threshold(fit_sets, scores, [logistic(sc) for sc in scores])
        print(f"{variant}: C={c}, threshold {threshold:.2f}", flush=True)
        for s in shown:
            sc = bias + s.x @ w
            rows.append((variant, s.name, s.outcome(sc, logistic(sc), threshold)))
        fitted[variant] = {"bias": bias, "weights": dict(zip(FEATURES, w.tolist())), "threshold": threshold, "C": c}
    print(table(rows))
    best = fitted["all features"]
    print("weights:", json.dumps({k: round(v, 4) for k, v in best["weights"].items()}), "bias", round(best["bias"], 4))
    if args.json:
        Path(args.json).write_text(json.dumps({"fitted": fitted, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
