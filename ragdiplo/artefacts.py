"""Per-text artefacts: what chunking and embedding make of one document text.

They depend on the text alone, never on its id, so they are keyed by the
text's SHA-256: an unchanged text is never chunked or embedded twice, and two
ids holding the same text share one set (simonw/llm keeps embeddings by content
hash for the same reason). index.assemble turns artefacts into an index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from .chunking import ChunkerConfig, segment_document
from .embedding import Embedder
from .errors import DocumentIdError
from .types import Document


@dataclass(frozen=True)
class DocArtefacts:
    """What chunking and embedding made of one text; ids play no part in it."""

    sentences: np.ndarray  # int64 (m, 2): start, end
    passages: np.ndarray  # int64 (n, 2): start, end
    sentence_vectors: np.ndarray  # float32 (m, dim)
    passage_vectors: np.ndarray  # float32 (n, dim)


def canonical(documents: Iterable[Document]) -> tuple[list[Document], dict[str, str]]:
    """One stored document per distinct text, named by the smallest id holding it,
    in id order; every other id with that text becomes an alias of it."""
    docs = sorted(documents, key=lambda d: d.id)
    for a, b in pairwise(docs):
        if a.id == b.id:
            raise DocumentIdError(f"document ids must be unique; {a.id!r} appears twice")
    stored: dict[str, Document] = {}
    alias_of: dict[str, str] = {}
    for d in docs:
        first = stored.setdefault(d.sha256, d)
        if first is not d:
            alias_of[d.id] = first.id
    return list(stored.values()), alias_of


def segment_and_embed(
    documents: list[Document], embedder: Embedder, chunker: ChunkerConfig, *, show_progress: bool = False
) -> dict[str, DocArtefacts]:
    """Chunk and embed each distinct text once, all texts in one batch per kind."""
    todo = list({d.sha256: d for d in documents}.values())
    segmented = [segment_document(d, embedder, chunker) for d in todo]
    p_texts = [d.text[p.start : p.end] for d, (_, ps) in zip(todo, segmented) for p in ps]
    s_texts = [d.text[s:e] for d, (ss, _) in zip(todo, segmented) for s, e in ss]
    p_vecs = embedder.embed(p_texts, show_progress=show_progress).reshape(len(p_texts), embedder.dim)
    s_vecs = embedder.embed(s_texts, show_progress=show_progress).reshape(len(s_texts), embedder.dim)
    out: dict[str, DocArtefacts] = {}
    pi = si = 0
    for d, (sentences, passages) in zip(todo, segmented):
        pj, sj = pi + len(passages), si + len(sentences)
        spans = np.asarray([(p.start, p.end) for p in passages], dtype=np.int64).reshape(-1, 2)
        out[d.sha256] = DocArtefacts(
            np.asarray(sentences, dtype=np.int64).reshape(-1, 2), spans, s_vecs[si:sj], p_vecs[pi:pj]
        )
        pi, si = pj, sj
    return out


