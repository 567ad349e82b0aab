"""Whether an embedder can search or extend an index: one rule, by the vectors.

An index is searched with question vectors and extended with passage vectors
from the embedder in hand, which may run another backend (OpenVINO, ONNX
Runtime, torch) or precision than the one that built it. Names do not decide
whether the two are interchangeable; their vectors do. The embedder in hand
embeds a few of the index's own sentences (the probes), whose vectors the index
already stores, and every probe must come back with a cosine of at least
``PROBE_COSINE`` to the stored vector, in the index's dimension.

Measured on the 171 sentences of the seed corpus with all-MiniLM-L6-v2, the same
model agrees with itself across backends far above that: OpenVINO in bfloat16
against ONNX Runtime in float32, 0.99997 at the lowest (0.99999 on average);
OpenVINO in float32 and torch against ONNX Runtime, 0.9999999. Other models of the
same dimension fall far below: the same weights read differently (first-token
pooling instead of the mean) 0.63 at the highest; its first five of six layers
0.70; its vectors rotated or permuted 0.18. A threshold of 0.999 sits a
hundred times the bfloat16 error above the first and far from the second.

The probes are three of the first sentences of the index, of 20 to 100
characters and of one length in tokens: a runtime embeds them in one short call,
which costs a question's cold start (0.6 s) under twice what embedding the
question does (ONNX Runtime on the seeds, on a busy 2-core machine: 25 ms
against 15 ms, warm; choosing the probes 1.4 ms). Every index already holds
their vectors, whatever its format version, so nothing is stored for them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ragdiplo.embed.base import Embedder, EmbedderLike
from ragdiplo.embed.factory import how_to_embed_for
from ragdiplo.errors import IndexMismatchError
from ragdiplo.index.build import Index

PROBE_COSINE = 0.999  # every probe's cosine to its stored vector must reach this
PROBES = 3  # sentences embedded per check
PROBE_CHARS = (20, 100)  # a probe's length: a sentence, and quick to embed
PROBE_SCAN = 64  # sentences of that length looked at for probes


def probe_rows(index: Index, embedder: Embedder | EmbedderLike) -> list[int]:
    """The sentence rows whose stored vectors ``embedder`` must reproduce: the
    first ``PROBES`` distinct sentences of ``PROBE_CHARS`` characters and of one
    length in the embedder's tokens (a runtime that batches texts of one length,
    as ONNX Runtime does, embeds them in one call: about half the time of three);
    failing that, the most of one length, then any sentences."""
    by_length: dict[int, list[int]] = {}
    others: list[int] = []
    seen: set[str] = set()
    looked = 0
    for row in range(len(index.sentence_rows)):
        doc, start, end = index.sentence(row)
        text = doc.text[start:end]
        if text in seen:
            continue
        seen.add(text)
        if not PROBE_CHARS[0] <= len(text) <= PROBE_CHARS[1]:
            others.append(row)
            if len(others) > PROBE_SCAN:
                break
            continue
        group = by_length.setdefault(len(embedder.token_spans(text)), [])
        group.append(row)
        looked += 1
        if len(group) == PROBES or looked == PROBE_SCAN:
            break
    best = max(by_length.values(), key=len, default=[])
    rest = [r for rows in by_length.values() for r in rows if rows is not best]
    return (best + sorted(rest) + others)[:PROBES]


def probe_texts(index: Index, embedder: Embedder | EmbedderLike) -> list[str]:
    """The texts of ``probe_rows``."""
    return [doc.text[s:e] for doc, s, e in map(index.sentence, probe_rows(index, embedder))]


def agreement(index: Index, embedder: Embedder | EmbedderLike) -> float:
    """The lowest cosine between a probe's stored vector and the one ``embedder``
    gives it now (1.0 for an index without sentences: nothing to compare)."""
    rows = probe_rows(index, embedder)
    if not rows:
        return 1.0
    texts = [doc.text[s:e] for doc, s, e in map(index.sentence, rows)]
    fresh = np.asarray(embedder.embed(texts), dtype=np.float32).reshape(len(rows), -1)
    stored = np.asarray(index.sentence_vectors[np.asarray(rows)], dtype=np.float32)
    return float((fresh * stored).sum(axis=1).min())


def incompatibility(index: Index, embedder: Embedder | EmbedderLike) -> str | None:
    """Why ``embedder`` cannot search or extend ``index``, or None when it can."""
    built = f"built with the model {index.model_id!r} ({index.dim} dimensions)"
    if embedder.dim != index.dim:
        return f"{built}, but the embedder in hand ({embedder.model_id!r}) gives {embedder.dim}"
    cosine = agreement(index, embedder)
    if cosine < PROBE_COSINE:
        return (f"{built}, but the embedder in hand ({embedder.model_id!r}) disagrees with the index's own "
                f"vectors (cosine {cosine:.4f} on one of its sentences, under {PROBE_COSINE}): it is another model")
    return None


def check_compatible(
    index: Index, embedder: Embedder | EmbedderLike, root: str | Path | None = None, *, editing: bool = False
) -> None:
    """Refuse an embedder whose vectors do not agree with ``index``'s (see the
    module docstring): a question or a new document would be compared with
    vectors of another model. ``root`` names the index folder in the message;
    ``editing`` says the embedder was to add documents, not questions."""
    why = incompatibility(index, embedder)
    if why is None:
        return
    where = f"{root}: " if root is not None else "the index was "
    how = how_to_embed_for(index.model_id)
    if editing:
        rebuild = "or rebuild it from the whole corpus with this embedder (sync inside edit_index)"
        cli = "or re-index the whole corpus with this model: `ragdiplo index CORPUS --index DIR` rebuilds it"
    else:
        rebuild = "or rebuild the index with this embedder (QA.build(corpus, path, embedder=...))"
        cli = "or rebuild it for this model with `ragdiplo index CORPUS --index DIR` (and the same --model)"
    folder = str(root) if root is not None else "DIR"
    raise IndexMismatchError(
        f"{where}{why}; {how}, {rebuild}",
        cli_message=f"{where}{why}; use the model it was built with (--model PATH for a model folder), "
        + cli.replace("DIR", folder),
    )


# -- BM25: the terms a question is cut into must be the ones the index was built of --------------

ANALYSER_PROBES = 8  # passages analysed again for an index that does not record its analyser


def analyser_change(index: Index) -> str | None:
    """Why ``index``'s BM25 terms were made otherwise than ``terms`` makes them
    here, or None (``BM25.analysed_otherwise``: by the manifest's record, or by
    a few of its own passages spread over it when it has none)."""
    rows = np.unique(np.linspace(0, len(index) - 1, ANALYSER_PROBES).astype(np.int64)) if len(index) else ()
    return index.bm25.analysed_otherwise(index.manifest.get("analyser"), (index.passage(int(r)).text for r in rows))


def check_analyser(index: Index, root: Path) -> None:
    """Refuse an index of another BM25 analyser (``analyser_change``): a question's
    terms would miss its words. Re-indexing makes BM25 anew and embeds nothing."""
    why = analyser_change(index)
    if why is not None:
        what = f"{root}: {why}; rebuild its BM25 from the texts it holds (nothing is embedded):"
        raise IndexMismatchError(f"{what} `with edit_index({str(root)!r}): pass`, or QA.build(corpus, {str(root)!r})",
                                 cli_message=f"{what} `ragdiplo index CORPUS --index {root}`")
