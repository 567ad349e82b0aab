"""Which candidate answers, and whether to answer at all: one learned decision.

A logistic model over each candidate's named features (``candidates.FEATURES``)
gives the log-odds that the candidate is right: it lies in a document that
answers the question and its words are the answer. The candidate with the
highest odds is the answer; when even its probability is below ``threshold``
the answer is withheld. The same numbers thus pick the span and decide
whether to give it, where the reader's own ranking and a separate confidence
used to disagree.

The weights are fitted by ``python training/fit_decision.py`` on candidates of
open-retrieval runs over qa-train articles the shipped reader never trained on
(``training/decision_data.py``), and the threshold on the development sets
(docs/results.md). They belong to the shipped reader: a user's own reader
scores spans on another scale, so refit them for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ragdiplo.answer.candidates import FEATURES, Candidate
from ragdiplo.errors import ConfigError

# fitted by training/fit_decision.py (docs/results.md, "The learned decision")
FITTED_BIAS = 0.0
FITTED_WEIGHTS: tuple[tuple[str, float], ...] = (("margin", 0.15),)
FITTED_THRESHOLD = 0.25


@dataclass(frozen=True)
class Decision:
    """P(candidate right) = 1 / (1 + exp(-(``bias`` + Σ weight × feature))),
    ``weights`` named by feature (a feature not named weighs nothing), and the
    probability below which the best candidate is withheld."""

    bias: float = FITTED_BIAS
    weights: tuple[tuple[str, float], ...] = FITTED_WEIGHTS
    threshold: float = FITTED_THRESHOLD

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
        return cls(float(bias), tuple((name, float(weights[name])) for name in FEATURES if name in weights), threshold)

    def log_odds(self, candidate: Candidate) -> float:
        return self.bias + sum(w * candidate.features[FEATURES.index(name)] for name, w in self.weights)


def probability(log_odds: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, log_odds))))


def decide(found: Sequence[Candidate], decision: Decision) -> list[Candidate]:
    """``found`` with their log-odds as ``score``, best first (ties: the
    better-ranked context, then the earlier span)."""
    scored = [replace(c, score=decision.log_odds(c)) for c in found]
    return sorted(scored, key=lambda c: (-c.score, c.rank, c.doc_row, c.start))


__all__ = ["Decision", "decide", "probability"]
