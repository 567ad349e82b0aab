"""BM25 over passages (bm25s) and the term weights the answer scorer shares.

Tokens are lower-cased words of one or more characters, so numbers such as
"5" in "5% of GDP" count, English stop words dropped and Snowball-stemmed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer

TOKEN_PATTERN = r"\w+"
_WORD = re.compile(TOKEN_PATTERN)
_STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN) | {"s", "did", "does", "do", "what", "who", "which"}
STEMMER = "english"  # the Snowball algorithm PyStemmer runs


def analyser() -> dict[str, Any]:
    """What turns a text into terms here, as a manifest records it (``analyser``):
    an index searched with other terms than it was built with misses words, so
    loading compares this with the record (index/compat.py)."""
    stop = hashlib.sha256("\n".join(sorted(_STOPWORDS)).encode("utf-8")).hexdigest()
    return {"token_pattern": TOKEN_PATTERN, "lowercase": True, "stopwords_sha256": stop,
            "stemmer": f"snowball-{STEMMER}", "stemmer_version": f"PyStemmer {Stemmer.version()}"}


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer(STEMMER)


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

    def scores(self, query: str | Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for ``query``, a text or its ``terms``
        (zeros when no term is known)."""
        tokens = [t for t in (terms(query) if isinstance(query, str) else query) if t in self._vocab]
        if not tokens:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)

    def analysed_otherwise(self, recorded: Any, texts: Iterable[str]) -> str | None:
        """Why these scores were made of other terms than ``terms`` makes here, or
        None: the ``recorded`` analyser (the manifest's) differs from ``analyser()``,
        or, where none was recorded (indexes written before it was), one of
        ``texts`` (some of the index's own passages) gives a term the vocabulary lacks."""
        now = analyser()
        if recorded is not None:
            old = recorded if isinstance(recorded, dict) else {}
            key = next((k for k in sorted(now.keys() | old.keys()) if old.get(k) != now.get(k)), None)
            return None if key is None else (f"it was built with another BM25 analyser ({key}: {old.get(key)!r} "
                                             f"then, {now.get(key)!r} here)")
        unknown = next((t for text in texts for t in terms(text) if t not in self._vocab), None)
        return None if unknown is None else (f"its BM25 vocabulary lacks the term {unknown!r} of its own passages: "
                                             "it was built with another BM25 analyser")

    def save(self, folder: Path) -> None:
        self._model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, n_docs: int, mmap: bool = False) -> BM25:
        """With ``mmap`` the score arrays stay on disk; a query reads only its terms' columns.
        What was read is checked (``_check``), so a crafted file fails here, not at a query."""
        model = bm25s.BM25.load(str(folder), mmap=mmap, allow_pickle=False, show_progress=False, verbosity=0)
        _check(model, n_docs, full=not mmap)
        return cls(model, n_docs)


def _check(model: bm25s.BM25, n_docs: int, full: bool) -> None:
    """The parameters are the ones ``build`` uses, and the score matrix is a
    well-formed sparse matrix of ``n_docs`` passages that every vocabulary entry
    indexes into; ``full`` also checks every stored passage number (it reads the
    whole array, so a memory-mapped index skips it)."""
    expected = {"method": "lucene", "idf_method": "lucene", "dtype": "float32", "backend": "numpy"}
    for key, value in expected.items():
        if getattr(model, key, None) != value:
            raise ValueError(f"BM25 {key} is {getattr(model, key, None)!r}, not {value!r}")
    for key in ("k1", "b", "delta"):
        if not (isinstance(getattr(model, key, None), (int, float)) and 0 <= getattr(model, key) < float("inf")):
            raise ValueError(f"BM25 {key} must be a finite number, 0 or more")
    if model.int_dtype not in ("int32", "int64") or model.scores.get("num_docs") != n_docs:
        raise ValueError("BM25 parameters do not describe this index")
    data, indices, indptr = (np.asarray(model.scores[k]) for k in ("data", "indices", "indptr"))
    if data.ndim != 1 or indices.shape != data.shape or indptr.ndim != 1 or len(indptr) < 1:
        raise ValueError("BM25 score arrays have the wrong shapes")
    if indptr[0] != 0 or indptr[-1] != len(data) or np.any(np.diff(indptr) < 0):
        raise ValueError("BM25 score arrays are not a sparse matrix")
    vocab = model.vocab_dict  # bm25s adds "" after the last column; no query term is ""
    ids = [i for t, i in vocab.items() if t != ""] if isinstance(vocab, dict) else None
    if ids is None or not all(type(i) is int and 0 <= i < len(indptr) - 1 for i in ids):
        raise ValueError("BM25 vocabulary points outside its score arrays")
    if full and len(indices) and (indices.min() < 0 or indices.max() >= n_docs):
        raise ValueError("BM25 scores name passages the index does not have")
