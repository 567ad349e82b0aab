"""What the benchmark scripts share: a corpus folder or a built index folder, either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ragdiplo import QA, QAConfig
from ragdiplo.embed.base import SentenceTransformerEmbedder


def open_qa(path: str, embedder: SentenceTransformerEmbedder, config: QAConfig = QAConfig()) -> QA:
    """An index folder (one holding ``manifest.json``) is loaded as it is, so a
    large corpus indexed once with ``ragdiplo index`` is not embedded again for
    every run; any other path is a corpus, indexed in memory."""
    if (Path(path) / "manifest.json").is_file():
        return QA.load(path, embedder, config)
    return QA.build(path, embedder=embedder, config=config)


def handled_well(p: np.ndarray, right: np.ndarray, answerable: np.ndarray, threshold: float) -> float:
    """Share of questions handled well at ``threshold``: answered right, or left
    unanswered when the corpus has no answer."""
    answered = p >= threshold
    return float(np.mean(np.where(answerable, answered & right, ~answered)))
