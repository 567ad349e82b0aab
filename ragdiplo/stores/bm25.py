"""BM25 over passages (bm25s) and the term weights the answer scorer shares.

Tokens are lower-cased words of one or more characters, so numbers such as
"5" in "5% of GDP" count, English stop words dropped and Snowball-stemmed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN) | {"s", "did", "does", "do", "what", "who", "which"}


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """The stemmed content words of ``text``, in order."""
    if len(text) > _CACHED_CHARS:
        return _terms(text)
    return list(_cached_terms(text))


# Answering stems the same sentences and words at every question (about half its
# time besides the model); short texts are remembered, passages being indexed are not.
_CACHED_CHARS = 1000


@lru_cache(maxsize=1 << 15)
def _cached_terms(text: str) -> tuple[str, ...]:
    return tuple(_terms(text))


def _terms(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
    return _stemmer().stemWords(words)


class BM25:
    """Okapi BM25 over a fixed list of texts, with document frequencies kept
    so sentence-level scoring can weight question terms by rarity."""

    def __init__(self, model: bm25s.BM25, n_docs: int) -> None:
        self._model = model
        self.n_docs = n_docs
        indptr = np.asarray(model.scores["indptr"])
        df = np.diff(indptr).astype(np.float32)
        self._idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        self._vocab: dict[str, int] = model.vocab_dict

    @classmethod
    def build(cls, texts: list[str]) -> BM25:
        model = bm25s.BM25()
        model.index([terms(t) or ["\x00"] for t in texts], show_progress=False)
        return cls(model, len(texts))

    def __contains__(self, term: object) -> bool:
        return term in self._vocab

    def idf(self, term: str) -> float:
        """Rarity of a term across passages; unseen terms get the maximum."""
        i = self._vocab.get(term)
        return float(self._idf[i]) if i is not None else float(np.log1p(self.n_docs + 0.5))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for ``query`` (zeros when no term is known)."""
        tokens = [t for t in terms(query) if t in self._vocab]
        if not tokens:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)

    def save(self, folder: Path) -> None:
        self._model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, n_docs: int, mmap: bool = False) -> BM25:
        """With ``mmap`` the score arrays stay on disk; a query reads only its terms' columns."""
        model = bm25s.BM25.load(str(folder), mmap=mmap, allow_pickle=False, show_progress=False, verbosity=0)
        return cls(model, n_docs)
