"""What the benchmark scripts share: a corpus folder or a built index folder,
either way; the reader's ranked candidates for a question, as the pipeline
computes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ragdiplo import QA, QAConfig
from ragdiplo.answer.candidates import Candidate, read_candidates
from ragdiplo.answer.decision import decide
from ragdiplo.answer.question import Question
from ragdiplo.answer.retrieval import rank_rows
from ragdiplo.answer.rules import score_sentences
from ragdiplo.embed.base import SentenceTransformerEmbedder, embed_question


def open_qa(path: str, embedder: SentenceTransformerEmbedder, config: QAConfig = QAConfig()) -> QA:
    """An index folder (one holding ``manifest.json``) is loaded as it is, so a
    large corpus indexed once with ``ragdiplo index`` is not embedded again for
    every run; any other path is a corpus, indexed in memory."""
    if (Path(path) / "manifest.json").is_file():
        return QA.load(path, embedder, config)
    return QA.build(path, embedder=embedder, config=config)


def ranked_candidates(qa: QA, question: str, config: QAConfig = QAConfig()) -> list[Candidate]:
    """The reader's candidates for ``question``, best first, exactly as
    ``answer/pipeline.py`` reads and ranks them before deciding to answer."""
    assert qa.reader is not None, "needs a reader"
    q = Question.of(question)
    vector = embed_question(qa.embedder, q.text)
    scored = score_sentences(qa.index, q, vector, rank_rows(qa.index, q, vector, config.retrieval), config)
    found = read_candidates(qa.index, q, vector, qa.reader, scored, config.reader_sentences, config.reader_spans)
    return decide(qa.index, q, found, config.reader_sentence_weight, config.recency_margin, config.decision)


def fit_logistic(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """Bias and weights of a weighted logistic regression with an L2 penalty
    of ``l2 / 2 × |weights|²`` (the bias unpenalised): scikit-learn's lbfgs,
    the one solver every confidence of the project is fitted with."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0 / l2, max_iter=10_000, tol=1e-8).fit(x, y, sample_weight=sample_weight)
    return float(model.intercept_[0]), model.coef_[0]


def handled_well(p: np.ndarray, right: np.ndarray, answerable: np.ndarray, threshold: float) -> float:
    """Share of questions handled well at ``threshold``: answered right, or left
    unanswered when the corpus has no answer."""
    answered = p >= threshold
    return float(np.mean(np.where(answerable, answered & right, ~answered)))
