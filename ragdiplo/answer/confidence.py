"""Whether to answer at all: logistic calibrations of P(answer right).

Each calibration names its features (``FEATURES``, the order of ``weights``)
and records the scoring settings it was fitted with (``fitted_with``): a
confidence fitted on one way of scoring sentences means little under another,
so ``QAConfig`` warns when its settings and its calibration's disagree.
Refit with ``benchmarks/calibrate.py`` (rules) or
``benchmarks/calibrate_reader.py`` (reader).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np

from ragdiplo.errors import ConfigError

# the sentence-scoring settings (QAConfig fields) both calibrations were fitted with
SENTENCE_SCORING = (("read_passages", 5), ("w_dense", 1.0), ("w_lexical", 0.7), ("w_type", 0.3), ("w_rank", 0.1),
                    ("context_weight", 0.5))  # fmt: skip


def _check(threshold: float, features: Sequence[str], weights: np.ndarray) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold is a probability between 0 and 1 (got {threshold})")
    if not np.all(np.isfinite(weights)):
        raise ConfigError(f"calibration weights must be finite numbers (got {dict(zip(features, weights.tolist()))})")


class _Logistic:
    """What both calibrations share: weights by feature name, the range checks,
    and building one from a fit. Subclasses are frozen dataclasses with a field
    per name in ``FEATURES`` plus ``bias``, ``threshold`` and ``fitted_with``."""

    FEATURES: ClassVar[tuple[str, ...]] = ()
    bias: float
    threshold: float
    fitted_with: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        _check(self.threshold, self.FEATURES, self.weights)

    @property
    def weights(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in self.FEATURES], dtype=float)

    @classmethod
    def fitted(cls, bias: float, weights: Mapping[str, float], threshold: float,
               fitted_with: Mapping[str, float]) -> Self:  # fmt: skip
        """A calibration from a fit: ``weights`` by feature name, and the
        scoring settings the features were computed with."""
        return cls(bias=bias, **_named(cls.FEATURES, weights), threshold=threshold,  # type: ignore[call-arg]
                   fitted_with=tuple(sorted(fitted_with.items())))  # fmt: skip


@dataclass(frozen=True)
class Calibration(_Logistic):
    """The sentence rules' P(answer right) over ``rules.evidence_features``
    (named by ``FEATURES``), and the threshold below which the answer is
    withheld. Fitted by ``python benchmarks/calibrate.py`` on the seeds dev and
    extra gold sets plus a SQuAD dev-open slice."""

    FEATURES: ClassVar[tuple[str, ...]] = ("score", "dense", "lexical", "type_missing", "unknown_name", "margin")

    bias: float = 0.8902
    score: float = -0.2756
    dense: float = -0.9059
    lexical: float = 0.0673
    type_missing: float = -1.3185
    unknown_name: float = -3.6191
    margin: float = 5.0549
    threshold: float = 0.43
    fitted_with: tuple[tuple[str, float], ...] = SENTENCE_SCORING


@dataclass(frozen=True)
class ReaderCalibration(_Logistic):
    """The reader's P(answer right) over ``pipeline.reader_features`` (named
    by ``FEATURES``) and the threshold below which its answer is withheld.
    Fitted by ``python benchmarks/calibrate_reader.py`` on a fixed half, by
    question id, of each development set: the seeds dev and extra sets, the
    first 1,000 SQuAD dev-open questions and the 577 SQuAD 2.0 near-miss
    questions of ``unanswerable.jsonl``; the other halves and the held-out
    sets are reported, never fitted on. The threshold is the highest that
    keeps the false abstentions of the SQuAD fitted half where the previous
    calibration had them (23 of 476), so near-miss questions are withheld more
    often at no cost in answered questions (docs/results.md)."""

    FEATURES: ClassVar[tuple[str, ...]] = ("margin", "rank", "dense", "unknown_name", "names_missing")

    bias: float = -2.6956
    margin: float = 0.1503
    rank: float = 1.6558
    dense: float = 0.1946
    unknown_name: float = -2.5493
    names_missing: float = -0.1692
    threshold: float = 0.25
    fitted_with: tuple[tuple[str, float], ...] = SENTENCE_SCORING + (
        ("reader_sentences", 4), ("reader_spans", 5), ("reader_sentence_weight", 10.0))  # fmt: skip


def _named(features: Sequence[str], weights: Mapping[str, float]) -> dict[str, float]:
    if set(weights) != set(features):
        raise ConfigError(f"a calibration needs a weight for each of {list(features)} (got {sorted(weights)})")
    return {name: float(weights[name]) for name in features}


def probability(features: np.ndarray, calibration: Calibration | ReaderCalibration) -> float:
    """P(right) of an answer whose evidence is ``features`` (in ``calibration.FEATURES`` order)."""
    z = calibration.bias + float(features @ calibration.weights)
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def mismatched(calibration: Calibration | ReaderCalibration, settings: Mapping[str, object]) -> list[str]:
    """The settings that differ from those ``calibration`` was fitted with, as
    ``name=now (fitted with was)``; empty when they agree."""
    return [f"{name}={settings[name]} (fitted with {was})" for name, was in calibration.fitted_with
            if name in settings and settings[name] != was]  # fmt: skip


__all__ = ["SENTENCE_SCORING", "Calibration", "ReaderCalibration", "mismatched", "probability"]
