"""BM25 over passages (bm25s) and the term weights the answer scorer shares.

Tokens are lower-cased words of one or more characters, so numbers such as
"5" in "5% of GDP" count, English stop words dropped and Snowball-stemmed.

bm25s builds the score matrix; a saved one is read and scored here, with the
arithmetic of bm25s' numpy backend (the same scores, bit for bit), because
importing bm25s also imports scipy: a tenth of a second of every cold question.
The folder keeps bm25s' layout, so either can read what the other wrote.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import Stemmer

TOKEN_PATTERN = r"\w+"
_WORD = re.compile(TOKEN_PATTERN)
# bm25s.stopwords.STOPWORDS_EN (Lucene's English list), copied so that a question is cut into terms without
# importing bm25s; tests/test_retrieval.py keeps the two equal (the manifest records their hash: ``analyser``)
STOPWORDS_EN = ("a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
                "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
                "to", "was", "will", "with")  # fmt: skip
_STOPWORDS = frozenset(STOPWORDS_EN) | {"s", "did", "does", "do", "what", "who", "which"}
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


SCORE_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")  # bm25s' names
VOCAB_FILE, PARAMS_FILE = "vocab.index.json", "params.index.json"
PARAMS = ("k1", "b", "delta", "method", "idf_method", "dtype", "int_dtype", "num_docs", "version", "backend")


class BM25:
    """Okapi BM25 over a fixed list of texts, with document frequencies kept
    so sentence-level scoring can weight question terms by rarity: bm25s' score
    matrix (one sparse column of precomputed passage scores per term), its
    vocabulary (term -> column) and its parameters."""

    def __init__(self, arrays: tuple[np.ndarray, np.ndarray, np.ndarray], vocab: dict[str, int],
                 params: dict[str, Any]) -> None:  # fmt: skip
        self._data, self._indices, self._indptr = arrays
        self._params = params
        self.n_docs = int(params["num_docs"])
        df = np.diff(np.asarray(self._indptr)).astype(np.float32)
        self._idf = np.log1p((self.n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        self._vocab = vocab

    @classmethod
    def build(cls, texts: list[str]) -> BM25:
        import bm25s  # building only: scoring needs neither it nor the scipy it imports

        model = bm25s.BM25()
        model.index([terms(t) or ["\x00"] for t in texts], show_progress=False)
        params = {k: getattr(model, k) for k in PARAMS if k not in ("num_docs", "version")}
        params.update(num_docs=len(texts), version=bm25s.__version__)
        scores = model.scores
        return cls((scores["data"], scores["indices"], scores["indptr"]), model.vocab_dict, params)

    def __contains__(self, term: object) -> bool:
        return term in self._vocab

    def idf(self, term: str) -> float:
        """Rarity of a term across passages; unseen terms get the maximum."""
        i = self._vocab.get(term)
        return float(self._idf[i]) if i is not None else float(np.log1p(self.n_docs + 0.5))

    def scores(self, query: str | Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for ``query``, a text or its ``terms``
        (zeros when no term is known). A term's column is added to the scores
        in the query's order, a repeated term again, as bm25s' ``get_scores``
        adds them (``np.add.at`` in float32: the same bits)."""
        ids = [self._vocab[t] for t in (terms(query) if isinstance(query, str) else query) if t in self._vocab]
        scores = np.zeros(self.n_docs, dtype=np.float32)
        for i in ids:
            start, end = int(self._indptr[i]), int(self._indptr[i + 1])
            np.add.at(scores, self._indices[start:end], self._data[start:end])
        return scores

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
        """bm25s' layout: the three score arrays, the vocabulary and the parameters (as bm25s writes them)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in zip(SCORE_FILES, (self._data, self._indices, self._indptr)):
            np.save(folder / name, np.asarray(array), allow_pickle=False)
        (folder / VOCAB_FILE).write_text(json.dumps(self._vocab, ensure_ascii=False, separators=(",", ":")),
                                         encoding="utf-8")
        (folder / PARAMS_FILE).write_text(json.dumps(self._params, indent=4), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, n_docs: int, mmap: bool = False) -> BM25:
        """With ``mmap`` the score arrays stay on disk; a query reads only its terms' columns.
        What was read is checked (``_check``), so a crafted file fails here, not at a query."""
        params = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
        vocab = json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8"))
        data, indices, indptr = (np.load(folder / name, allow_pickle=False, mmap_mode="r" if mmap else None)
                                 for name in SCORE_FILES)
        _check(params, vocab, (data, indices, indptr), n_docs, full=not mmap)
        return cls((data, indices, indptr), vocab, params)


def _check(params: Any, vocab: Any, arrays: tuple[np.ndarray, np.ndarray, np.ndarray], n_docs: int, full: bool) -> None:
    """The parameters are the ones ``build`` uses, and the score matrix is a
    well-formed sparse matrix of ``n_docs`` passages that every vocabulary entry
    indexes into; ``full`` also checks every stored passage number (it reads the
    whole array, so a memory-mapped index skips it)."""
    if not isinstance(params, dict) or set(params) != set(PARAMS):
        raise ValueError(f"BM25 parameters must be bm25s' {', '.join(PARAMS)}")
    expected = {"method": "lucene", "idf_method": "lucene", "dtype": "float32", "backend": "numpy"}
    for key, value in expected.items():
        if params.get(key) != value:
            raise ValueError(f"BM25 {key} is {params.get(key)!r}, not {value!r}")
    for key in ("k1", "b", "delta"):
        if not (isinstance(params.get(key), (int, float)) and 0 <= params[key] < float("inf")):
            raise ValueError(f"BM25 {key} must be a finite number, 0 or more")
    if params.get("int_dtype") not in ("int32", "int64") or params.get("num_docs") != n_docs:
        raise ValueError("BM25 parameters do not describe this index")
    data, indices, indptr = arrays
    if data.ndim != 1 or indices.shape != data.shape or indptr.ndim != 1 or len(indptr) < 1:
        raise ValueError("BM25 score arrays have the wrong shapes")
    if indptr[0] != 0 or indptr[-1] != len(data) or np.any(np.diff(indptr) < 0):
        raise ValueError("BM25 score arrays are not a sparse matrix")
    # bm25s adds "" after the last column; no query term is ""
    ids = [i for t, i in vocab.items() if t != ""] if isinstance(vocab, dict) else None
    if ids is None or not all(type(i) is int and 0 <= i < len(indptr) - 1 for i in ids):
        raise ValueError("BM25 vocabulary points outside its score arrays")
    if full and len(indices) and (indices.min() < 0 or indices.max() >= n_docs):
        raise ValueError("BM25 scores name passages the index does not have")
