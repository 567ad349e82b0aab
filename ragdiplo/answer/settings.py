"""Answering settings: ``QAConfig``, range-checked and checked against the settings its calibrations were fitted with.

Every number that scores sentences, reads spans and decides whether to answer
is a field here; a calibration fitted under other values warns
(``CalibrationWarning``), since its probabilities may not hold.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

from ragdiplo.answer.confidence import Calibration, ReaderCalibration, mismatched
from ragdiplo.answer.decision import Decision
from ragdiplo.answer.retrieval import RetrievalConfig
from ragdiplo.errors import ConfigError

READERS = ("shipped",)


@dataclass(frozen=True)
class QAConfig:
    """Every setting of answering, range-checked (``ConfigError`` on nonsense).

    Sentence score (rules, and the reader's span ranking): a sentence of the
    top ``read_passages`` passages scores ``w_dense`` × its similarity to the
    question + ``w_lexical`` × its share of the question's rare words (words
    only in the sentence before it count ``context_weight``) + ``w_type`` if it
    holds the kind of answer asked for + ``w_rank`` / its passage's rank.

    Rules: no answer when the best sentence's similarity is below
    ``min_dense`` or ``calibration`` gives P(right) below its threshold;
    citations are sentences within ``cite_margin`` of the best (at most
    ``max_citations``), and sentences of other documents within
    ``corroborate_margin`` that give the same short answer; a sentence whose
    terms overlap a cited one's by ``citation_jaccard`` or more (Jaccard) is
    the same quote, listed among its duplicates, not cited again; ``short_answers``
    cuts a typed span from the sentence unless a name question's sentence
    holds more than ``max_name_candidates`` names.

    Reader: it reads the ``reader_sentences`` best sentences with their
    neighbours and gives ``reader_spans`` spans per context; the same span
    found in several contexts is one candidate (``candidates.py``). Candidates
    are ranked by margin over "no answer" + ``reader_sentence_weight`` × the
    holding sentence's score, and ``reader_calibration`` (fitted for the
    shipped reader) decides whether to answer, whichever reader read; a
    learned ``decision`` (``decision.py``), when given, does both instead.
    Another document's span within ``conflict_margin`` of the answer's that
    says something else is a conflicting report (0 never). For a question
    asking for a number, date or name, dated documents whose best candidates
    the decision would give on their own and score within
    ``typed_conflict_margin`` of the best are reports; when their values
    differ, the newest one answers and the older ones are superseded (0 never;
    4.0 chosen on a made-up corpus of ferry-rescue reports, before any
    measurement on the question sets). When the question
    asks for the latest news, the newest dated document's span within
    ``recency_margin`` of the best is the answer (0 never).

    A withheld answer lists the ``closest_passages`` sentences closest to the
    question, one per document (0 none), so the user sees what was found.

    ``retrieval``: how passages are ranked; ``reader``: ``"shipped"`` or
    ``None`` for the sentence rules (a model passed as ``QA(reader=...)``
    reads instead of either).
    """

    read_passages: int = 5
    w_dense: float = 1.0
    w_lexical: float = 0.7
    w_type: float = 0.3
    w_rank: float = 0.1
    context_weight: float = 0.5
    min_dense: float = 0.25
    max_citations: int = 3
    cite_margin: float = 0.05
    citation_jaccard: float = 0.8
    corroborate_margin: float = 0.4
    short_answers: bool = True
    max_name_candidates: int = 2
    calibration: Calibration = Calibration()
    retrieval: RetrievalConfig = RetrievalConfig()
    reader: str | None = "shipped"
    reader_calibration: ReaderCalibration = ReaderCalibration()
    reader_sentences: int = 4
    reader_spans: int = 5
    reader_sentence_weight: float = 10.0
    decision: Decision | None = None
    conflict_margin: float = 2.0
    typed_conflict_margin: float = 4.0
    recency_margin: float = 2.0
    closest_passages: int = 3

    def __post_init__(self) -> None:
        if self.reader is not None and self.reader not in READERS:
            raise ConfigError(
                f"reader must be one of {READERS} or None for the sentence rules (got {self.reader!r}); "
                "pass your own model to QA(reader=...)"
            )
        at_least_one = ("read_passages", "max_citations", "max_name_candidates", "reader_sentences", "reader_spans")
        for name in at_least_one:
            if not getattr(self, name) >= 1:
                raise ConfigError(f"{name} must be at least 1 (got {getattr(self, name)})")
        at_least_zero = ("w_dense", "w_lexical", "w_type", "w_rank", "context_weight", "cite_margin",
                         "corroborate_margin", "reader_sentence_weight", "conflict_margin", "typed_conflict_margin",
                         "recency_margin")  # fmt: skip
        for name in at_least_zero:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number, 0 or more (got {value!r})")
        if not (isinstance(self.closest_passages, int) and self.closest_passages >= 0):
            raise ConfigError(f"closest_passages must be a whole number, 0 or more (got {self.closest_passages!r})")
        if not (isinstance(self.citation_jaccard, (int, float)) and 0.0 < self.citation_jaccard <= 1.0):
            raise ConfigError(f"citation_jaccard is a share above 0, at most 1 (got {self.citation_jaccard!r})")
        if not -1.0 <= self.min_dense <= 1.0:
            raise ConfigError(f"min_dense is a cosine similarity between -1 and 1 (got {self.min_dense})")
        calibration = self.calibration if self.reader is None else self.reader_calibration
        differ = mismatched(calibration, {f.name: getattr(self, f.name) for f in fields(self)})
        if differ:
            warnings.warn(
                f"the confidence was calibrated with other settings ({', '.join(differ)}); its probabilities "
                "and threshold may not hold: refit it (benchmarks/calibrate*.py) or pass a calibration fitted "
                "with these settings", CalibrationWarning, stacklevel=3)  # fmt: skip


class CalibrationWarning(UserWarning):
    """Scoring settings differ from those the confidence was calibrated with."""


__all__ = ["READERS", "CalibrationWarning", "QAConfig"]
