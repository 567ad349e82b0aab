"""Which candidate answers, and whether to answer at all.

Every candidate (``candidates.py``: one per span and document, with named
features) is scored, the best one is the answer, and a probability that it is
right decides whether to give it or withhold it. Two ways, chosen by
``QAConfig.decision``:

* ``None`` (the default): the score is the reader's margin over "no answer"
  plus ``QAConfig.reader_sentence_weight`` times the rules' score of the
  sentence holding the span, and P(right) is ``QAConfig.reader_calibration``
  over the best candidate's features (fitted on development sets).
* a learned ``Decision``: one logistic model over all the features gives each
  candidate its log-odds of being right; the same number ranks and withholds.
  ``training/fit_decision.py`` fits it on open-retrieval runs over qa-train
  articles. Measured, it ranks and withholds worse than the default on every
  news and SQuAD set (docs/results.md, "The learned decision"), so it is not
  the default.

Both belong to the shipped reader's scores: a user's own reader scores spans
on another scale, so refit them for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ragdiplo.answer.candidates import FEATURES, Candidate
from ragdiplo.answer.confidence import ReaderCalibration
from ragdiplo.answer.confidence import probability as calibrated
from ragdiplo.answer.conflicts import prefer_latest
from ragdiplo.answer.question import Question
from ragdiplo.errors import ConfigError
from ragdiplo.index.build import Index


@dataclass(frozen=True)
class Decision:
    """P(candidate right) = 1 / (1 + exp(-(``bias`` + Σ weight × feature))),
    ``weights`` named by feature (a feature not named weighs nothing), and the
    probability below which the best candidate is withheld."""

    bias: float
    weights: tuple[tuple[str, float], ...]
    threshold: float

    def __post_init__(self) -> None:
        unknown = [name for name, _ in self.weights if name not in FEATURES]
        if unknown:
            raise ConfigError(f"the decision weighs unknown features {unknown}; known: {list(FEATURES)}")
        values = [self.bias, *(w for _, w in self.weights)]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ConfigError(f"the decision's bias and weights must be finite numbers (got {self.bias}, {self.weights})")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is a probability between 0 and 1 (got {self.threshold})")

    @classmethod
    def fitted(cls, bias: float, weights: Mapping[str, float], threshold: float) -> Decision:
        """A decision from a fit (``training/fit_decision.py --json``)."""
        return cls(float(bias), tuple((name, float(weights[name])) for name in FEATURES if name in weights), threshold)

    def log_odds(self, candidate: Candidate) -> float:
        return self.bias + sum(w * candidate.feature(name) for name, w in self.weights)


def probability(log_odds: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, log_odds))))


def rank(found: Sequence[Candidate], sentence_weight: float, decision: Decision | None = None) -> list[Candidate]:
    """``found`` scored (``Candidate.score``: margin + ``sentence_weight`` ×
    sentence score, or the ``decision``'s log-odds) and best first; ties go to
    the better-ranked context, then the earlier span."""
    if decision is not None:
        scored = [replace(c, score=decision.log_odds(c)) for c in found]
    else:
        scored = [replace(c, score=c.margin + sentence_weight * c.feature("sentence")) for c in found]
    return sorted(scored, key=lambda c: (-c.score, c.rank, c.doc_row, c.start))


def decide(
    index: Index,
    question: Question,
    found: Sequence[Candidate],
    sentence_weight: float,
    recency_margin: float,
    decision: Decision | None = None,
) -> list[Candidate]:
    """``found`` ranked (``rank``), best first; a question asking for the
    latest news takes the newest dated document's candidate among those within
    ``recency_margin`` of the best (``conflicts.prefer_latest``)."""
    ordered = rank(found, sentence_weight, decision)
    return prefer_latest(index, ordered, recency_margin) if question.latest else ordered


def confidence(
    best: Candidate, calibration: ReaderCalibration, decision: Decision | None = None
) -> tuple[float, float]:
    """P(``best`` is right) and the probability below which it is withheld:
    the ``decision``'s, or ``calibration`` over the candidate's features."""
    if decision is not None:
        return probability(best.score), decision.threshold
    features = np.array([best.feature(name) for name in calibration.FEATURES])
    return calibrated(features, calibration), calibration.threshold


__all__ = ["Decision", "confidence", "decide", "probability", "rank"]
