"""The user-facing handle: an index and the embedder that reads questions for it."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from ragdiplo.answer.pipeline import answer
from ragdiplo.answer.question import Question
from ragdiplo.answer.readers import Reader
from ragdiplo.answer.readers.shipped import default_reader
from ragdiplo.answer.settings import QAConfig
from ragdiplo.embed.base import Embedder, embed_question, embed_questions
from ragdiplo.embed.factory import default_embedder, query_embedder
from ragdiplo.errors import QuestionError
from ragdiplo.index.build import Index, build_index, claim_folder, save_index
from ragdiplo.index.compat import check_compatible
from ragdiplo.index.load import load_index
from ragdiplo.ingest.chunking import ChunkerConfig
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.types import Answer, Where

QUESTION_CACHE = 256  # question vectors kept (384 float32 each: 400 KB)
QUESTION_BATCH = 256  # questions ask_many embeds a call (a forward pass over a few thousand tokens)
DEFAULT_K = 10  # passages retrieved per question


def clamp_k(k: int | None, size: int) -> tuple[int, str | None]:
    """``k`` cut to the passages an index has, with the note that says so (None
    when it fits, or when ``k`` is None: the default shrinks quietly). Python,
    the CLI and the REPL all clamp through here."""
    if k is None:
        return max(1, min(DEFAULT_K, size)), None
    if isinstance(k, bool) or not hasattr(k, "__index__"):
        raise TypeError(f"k must be an int, not {type(k).__name__}")
    k = k.__index__()
    if k < 1:
        raise QuestionError(f"k must be at least 1 (got {k})")
    if k <= size or size < 1:
        return k, None
    return size, f"k is {k}, but the index has only {size} passage(s): using k={size}"


def check_reader(reader: object) -> None:
    """A reader given to ``QA`` must be a ``Reader``: refused before an index is
    built for it, not at the first question."""
    if reader is not None and not isinstance(reader, Reader):
        raise TypeError(
            "reader must have read_nbest(question, contexts, n) -> one list of ReaderSpan per context "
            f"(ragdiplo.answer.readers.Reader), not {type(reader).__name__}"
        )


class QA:
    """Ask questions of an index.

    >>> qa = QA.build("seeds/", "index/")          # doctest: +SKIP
    >>> qa.ask("What backstop did Starmer ask for?").text  # doctest: +SKIP
    """

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        config: QAConfig = QAConfig(),
        *,
        index_path: str | os.PathLike[str] = "index",
        reader: Reader | None = None,
    ) -> None:
        check_reader(reader)
        check_compatible(index, embedder, Path(index_path))
        self.index = index
        self.embedder = embedder
        self.config = config
        # the shipped reader unless the caller brings a model or asks for the rules
        self.reader = reader if reader is not None or config.reader is None else default_reader()
        # a repeated question (a REPL, a service behind a form) skips the model
        self._question_vector = lru_cache(maxsize=QUESTION_CACHE)(self._embed_question)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        embedder: Embedder | None = None,
        config: QAConfig = QAConfig(),
        *,
        reader: Reader | None = None,
    ) -> QA:
        index = load_index(path)
        embedder = embedder or query_embedder(index.model_id)
        return cls(index, embedder, config, index_path=path, reader=reader)

    @classmethod
    def build(
        cls,
        corpus: str | os.PathLike[str],
        path: str | os.PathLike[str] | None = None,
        *,
        embedder: Embedder | None = None,
        chunker: ChunkerConfig | None = None,
        config: QAConfig = QAConfig(),
        reader: Reader | None = None,
        show_progress: bool = False,
        metadata: str | os.PathLike[str] | None = None,
    ) -> QA:
        """Index a corpus folder or JSONL file, saving it to ``path`` if given;
        ``metadata``: a sidecar JSONL of ``{"id", "date"?, "source"?, ...}`` lines."""
        check_reader(reader)
        if path is not None:
            claim_folder(path, corpus)  # refused before anything is embedded: not apart from the corpus, or not ours
        embedder = embedder or default_embedder()
        index = build_index(load_corpus(corpus, metadata=metadata), embedder, chunker, show_progress=show_progress)
        if path is not None:
            save_index(index, path, corpus=corpus)
        return cls(index, embedder, config, index_path=path or "index", reader=reader)

    def ask(self, question: str, k: int | None = None, *, where: Where | None = None) -> Answer:
        """Answer with citations, or ``Answer.text is None`` when the corpus has no answer.
        ``k`` passages are retrieved (default 10); more than the index has is
        clamped with a warning. ``where`` keeps to the documents it lets through
        (``Where(since="2025-03-01", source="The Telegraph")``), inside retrieval."""
        analysed = Question.of(question)  # checked and analysed once, for every stage below
        k = self._checked(k, where)
        vector = self._question_vector(analysed.text)
        return answer(self.index, analysed, vector, k, self.config, self.reader, where)

    def ask_many(self, questions: Iterable[str], k: int | None = None, *, where: Where | None = None) -> list[Answer]:
        """``ask`` of each of ``questions``, in order, with the same answers; the
        questions are embedded together, ``QUESTION_BATCH`` a model call, instead
        of one call each. Every question is checked before any is answered."""
        return list(self._ask_all(questions, k, where, stacklevel=4))

    def ask_iter(self, questions: Iterable[str], k: int | None = None, *, where: Where | None = None) -> Iterator[Answer]:
        """``ask_many``'s answers one at a time, each as soon as it is ready (an
        evaluation times and counts them); a batch of questions is embedded when
        its first question's turn comes. The questions, ``k`` and ``where`` are
        checked here, before the first answer is asked for."""
        return self._ask_all(questions, k, where, stacklevel=4)

    def _ask_all(self, questions: Iterable[str], k: int | None, where: Where | None, stacklevel: int) -> Iterator[Answer]:
        if isinstance(questions, str):
            raise TypeError("questions must be a list of str (ask takes one question)")
        analysed = [Question.of(q) for q in questions]
        return self._answers(analysed, self._checked(k, where, stacklevel), where)

    def _checked(self, k: int | None, where: Where | None, stacklevel: int = 3) -> int:
        """``k`` clamped to the index, warning the user's line (``stacklevel``) when it is cut; ``where`` type-checked."""
        if where is not None and not isinstance(where, Where):
            raise TypeError(f"where must be a ragdiplo.Where, not {type(where).__name__}")
        k, note = clamp_k(k, len(self.index))
        if note:
            warnings.warn(note, stacklevel=stacklevel)
        return k

    def _answers(self, questions: list[Question], k: int, where: Where | None) -> Iterator[Answer]:
        for start in range(0, len(questions), QUESTION_BATCH):
            batch = questions[start : start + QUESTION_BATCH]
            texts = list(dict.fromkeys(q.text for q in batch))  # a question asked twice is embedded once
            vectors = dict(zip(texts, embed_questions(self.embedder, texts)))
            for question in batch:
                vector = vectors[question.text]
                vector.setflags(write=False)  # as ask's cached vectors
                yield answer(self.index, question, vector, k, self.config, self.reader, where)

    def __repr__(self) -> str:
        reader = f", reader={type(self.reader).__name__}" if self.reader is not None else ""
        return (f"QA({len(self.index.ids)} documents, {len(self.index)} passages, model={self.index.model_id!r}, "
                f"embedder={type(self.embedder).__name__}{reader})")

    def _embed_question(self, question: str) -> np.ndarray:
        vector = embed_question(self.embedder, question)
        vector.setflags(write=False)
        return vector
