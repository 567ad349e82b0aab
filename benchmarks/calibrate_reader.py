"""Fit the reader's answer confidence and abstention threshold on gold sets.

Each question is answered by the reader without abstaining; its evidence
(``ReaderCalibration.FEATURES``, named features of the best candidate) and whether the answer was
right (contains a gold answer and cites the evidence; for an unanswerable
question, never) train a logistic model of P(right). The threshold maximises
the share of questions handled well (answered right, or left unanswered when
the corpus has no answer), averaged over the sets so that a small set counts as
much as a large one.

Every ``--set`` is split in two fixed halves by a hash of the question id: the
fit sees only the first half; the tables report both, the second as "not fitted
on". ``--report`` sets are never fitted on (held-out sets, your own near-miss
set). Collected features are cached in ``--cache`` per set and reader model,
so a refit costs seconds.

    python benchmarks/calibrate_reader.py \\
        --set ../shared/gold/seeds_dev.jsonl seeds \\
        --set gold/seeds_extra.jsonl seeds \\
        --set ../shared/data/squad-dev-open/gold.jsonl ../shared/data/squad-dev-open/corpus \\
        --set ../shared/data/squad-dev-open/unanswerable.jsonl ../shared/data/squad-dev-open/corpus \\
        --report gold/seeds_holdout.jsonl seeds --report gold/seeds_nearmiss.jsonl seeds \\
        --limit 1000 --max-false-abstention gold.jsonl 0.0484 --json benchmarks/reader/calibration.json

(0.0484: the share of the SQuAD fitted half the previous calibration withheld wrongly, 23 of 476, rounded up.)
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import fit_logistic, open_qa, ranked_candidates
from halves import fitted_half

from ragdiplo import QAConfig
from ragdiplo.answer.confidence import ReaderCalibration
from ragdiplo.answer.pipeline import sentence_citation
from ragdiplo.answer.readers.shipped import MODEL_DIR, MODEL_FILE
from ragdiplo.eval.datasets import read_gold
from ragdiplo.eval.metrics import aurc, risk_coverage
from ragdiplo.eval.run import contains_answer, overlaps

READER_FEATURES = ReaderCalibration.FEATURES


def _model_tag() -> str:
    path = MODEL_DIR / MODEL_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def collect(gold_path: str, corpus: str, limit: int | None, cache: Path | None) -> dict[str, list]:
    """Per question: id, features, right, answerable of its unabstained
    answer (questions the reader found nothing for are left out: they are
    withheld whatever the calibration says)."""
    key = hashlib.sha256(f"{Path(gold_path).resolve()}|{limit}|{_model_tag()}|{READER_FEATURES}".encode()).hexdigest()[:16]
    path = cache / f"{Path(gold_path).stem}-{key}.json" if cache else None
    if path is not None and path.is_file():
        cached: dict[str, list] = json.loads(path.read_text())
        return cached
    config = QAConfig()
    qa = open_qa(corpus, None, config)
    gold = read_gold(gold_path, {d.id: d for d in qa.index.documents})[:limit]
    out: dict[str, list] = {"id": [], "features": [], "right": [], "answerable": [], "total": [len(gold)],
                            "unanswered_ids": []}  # fmt: skip
    for q in gold:
        found = ranked_candidates(qa, q.question, config)
        if not found:
            out["unanswered_ids"].append(q.id)
            continue
        best = found[0]
        text = qa.index.documents[best.doc_row].text[best.start : best.end]
        c = sentence_citation(qa.index, best.doc_row, best.start, best.end, best.margin)
        cited = overlaps(c.doc_id, c.start, c.end, q.evidence)
        out["id"].append(q.id)
        out["features"].append([best.feature(name) for name in READER_FEATURES])
        out["right"].append(bool(q.answerable and cited and contains_answer(text, q.answers)))
        out["answerable"].append(q.answerable)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out))
    return out


@dataclasses.dataclass
class Part:
    """One half (or the whole) of a gold set, as arrays."""

    name: str
    fitted: bool
    x: np.ndarray
    right: np.ndarray
    answerable: np.ndarray
    unread: int  # questions the reader found nothing for (withheld anyway)
    unread_answerable: int


def split(name: str, data: dict[str, list], gold_path: str, halves: bool) -> list[Part]:
    ids = data["id"]
    rows = [json.loads(line) for line in Path(gold_path).read_text(encoding="utf-8").splitlines() if line.strip()]
    answerable_of = {str(r["id"]): bool(r.get("answers")) for r in rows}
    x = np.array(data["features"], dtype=float).reshape(len(ids), -1)
    right, answerable = np.array(data["right"], dtype=bool), np.array(data["answerable"], dtype=bool)
    parts = []
    for fitted in ([True, False] if halves else [False]):
        keep = np.array([fitted_half(str(i)) == fitted or not halves for i in ids], dtype=bool)
        unread = [i for i in data["unanswered_ids"] if fitted_half(str(i)) == fitted or not halves]
        label = f"{name} ({'fit half' if fitted else 'other half'})" if halves else f"{name} (never fitted)"
        parts.append(Part(label, fitted, x[keep], right[keep], answerable[keep], len(unread),
                          sum(answerable_of.get(str(i), True) for i in unread)))  # fmt: skip
    return parts


def row(part: Part, probs: np.ndarray, threshold: float) -> dict:
    answered = probs >= threshold
    n_ans = int(part.answerable.sum()) + part.unread_answerable
    n_un = int((~part.answerable).sum()) + part.unread - part.unread_answerable
    withheld_un = int((~answered & ~part.answerable).sum()) + part.unread - part.unread_answerable
    withheld_ans = int((~answered & part.answerable).sum()) + part.unread_answerable
    cwc = int((answered & part.right).sum())
    # unread questions are withheld: counted in the curve as the least confident
    curve = risk_coverage(np.concatenate([probs, np.full(part.unread, -1.0)]),
                          np.concatenate([part.right, np.zeros(part.unread, dtype=bool)]))  # fmt: skip
    return {"set": part.name, "fitted": part.fitted, "questions": n_ans + n_un, "answerable": n_ans,
            "unanswerable": n_un, "unanswerable_withheld": withheld_un / n_un if n_un else None,
            "false_abstention": withheld_ans / n_ans if n_ans else None,
            "correct_with_citation": cwc / n_ans if n_ans else None, "aurc": aurc(curve),
            "handled_well": (cwc + withheld_un) / max(1, n_ans + n_un)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", nargs=2, action="append", metavar=("GOLD", "CORPUS"), required=True,
                        help="fit on the first half of its questions, report the other half")
    parser.add_argument("--report", nargs=2, action="append", metavar=("GOLD", "CORPUS"), default=[],
                        help="never fitted on: reported whole")
    parser.add_argument("--limit", type=int, help="use the first N questions of each set")
    parser.add_argument("--max-false-abstention", nargs=2, metavar=("GOLD", "SHARE"),
                        help="instead of the best average handled-well share: the highest threshold whose false "
                             "abstentions on the fitted half of GOLD (a --set file name) stay at or below SHARE")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/.calibration-cache"))
    parser.add_argument("--json", type=Path, help="write the fit and its tables here")
    args = parser.parse_args()
    parts: list[Part] = []
    for gold, corpus in args.set:
        parts += split(os.path.basename(gold), collect(gold, corpus, args.limit, args.cache), gold, True)
    for gold, corpus in args.report:
        parts += split(os.path.basename(gold), collect(gold, corpus, None, args.cache), gold, False)
    fit = [p for p in parts if p.fitted]
    x = np.vstack([p.x for p in fit])
    y = np.concatenate([p.right for p in fit]).astype(float)
    balance = np.concatenate([np.full(len(p.right), len(y) / (len(fit) * len(p.right))) for p in fit])
    bias, coef = fit_logistic(x, y, balance, l2=1e-2)
    probs = {p.name: 1 / (1 + np.exp(-(bias + p.x @ coef))) for p in parts}
    grid = np.round(np.arange(0.05, 0.81, 0.01), 2)
    mean_well = [np.mean([row(p, probs[p.name], t)["handled_well"] for p in fit]) for t in grid]
    threshold = float(grid[int(np.argmax(mean_well))])
    if args.max_false_abstention:
        name, share = args.max_false_abstention[0], float(args.max_false_abstention[1])
        part = next(p for p in fit if p.name.startswith(os.path.basename(name)))
        allowed = [t for t in grid if (row(part, probs[part.name], t)["false_abstention"] or 0.0) <= share + 1e-12]
        threshold = float(max(allowed)) if allowed else float(grid[0])
    config = QAConfig()
    fitted = ReaderCalibration.fitted(round(bias, 4), {n: round(float(c), 4) for n, c in zip(READER_FEATURES, coef)},
                                      threshold, {name: getattr(config, name) for name, _ in ReaderCalibration().fitted_with})  # fmt: skip
    print(fitted)
    rows = [row(p, probs[p.name], threshold) for p in parts]
    report = {"calibration": dataclasses.asdict(fitted), "features": READER_FEATURES, "reader_sha256_12": _model_tag(),
              "sets": rows}  # fmt: skip
    print(f"\n{'set':<44} {'n':>5} {'unans withheld':>14} {'false abst':>10} {'c-w-c':>6} {'AURC':>6}")

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    for r in rows:
        print(f"{r['set']:<44} {r['questions']:>5} {pct(r['unanswerable_withheld']):>14} "
              f"{pct(r['false_abstention']):>10} {pct(r['correct_with_citation']):>6} {r['aurc']:>6.3f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
