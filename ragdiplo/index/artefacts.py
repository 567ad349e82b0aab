"""Per-text artefacts: what chunking and embedding make of one document text.

They depend on the text alone, never on its id, so they are keyed by the
text's SHA-256: an unchanged text is never chunked or embedded twice, and two
ids holding the same text share one set (simonw/llm keeps embeddings by content
hash for the same reason). index.assemble turns artefacts into an index.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ragdiplo.embed.base import Embedder, EmbedderLike, as_embedder
from ragdiplo.errors import DocumentIdError, ModelError
from ragdiplo.ingest.chunking import ChunkerConfig, segment_document
from ragdiplo.stores.rowfile import Vectors, bad_rows
from ragdiplo.types import Document


@dataclass(frozen=True)
class DocArtefacts:
    """What chunking and embedding made of one text; ids play no part in it."""

    sentences: np.ndarray  # int64 (m, 2): start, end
    passages: np.ndarray  # int64 (n, 2): start, end
    sentence_vectors: Vectors  # float32 (m, dim); a RowFile window when taken from a loaded index
    passage_vectors: Vectors  # float32 (n, dim)


def canonical(documents: Iterable[Document]) -> tuple[list[Document], dict[str, str]]:
    """One stored document per distinct text and metadata, named by the smallest id
    holding it, in id order; every other id with both the same becomes an alias of
    it. The same text under another title, date or source is stored again (its
    artefacts are still shared): a citation and a filter must see each article's
    own metadata."""
    docs = sorted(documents, key=lambda d: d.id)
    for a, b in pairwise(docs):
        if a.id == b.id:
            raise DocumentIdError(f"document ids must be unique; {a.id!r} appears twice")
    stored: dict[tuple[str, str], Document] = {}
    alias_of: dict[str, str] = {}
    for d in docs:
        first = stored.setdefault((d.sha256, json.dumps(d.meta, sort_keys=True)), d)
        if first is not d:
            alias_of[d.id] = first.id
    return list(stored.values()), alias_of


TEXTS_PER_CALL = 4096  # texts embedded per call when the embedder allows many documents in one


def segment_and_embed(
    documents: list[Document], embedder: Embedder | EmbedderLike, chunker: ChunkerConfig, *, show_progress: bool = False
) -> dict[str, DocArtefacts]:
    """Chunk and embed each distinct text once.

    Many documents share an embedding call when the embedder is
    ``batch_invariant`` (a text's vector does not depend on the other texts of
    the call, as with the unpadded batches of ``OnnxEmbedder``): a corpus of
    short documents then fills whole batches, about a third less time on
    SciFact's abstracts. Other embedders (sentence-transformers pads its
    batches, which changes the last bits of a vector) get one call per document,
    so that an incremental update still equals a full rebuild bit for bit.
    """
    from tqdm import tqdm

    todo = list({d.sha256: d for d in documents}.values())
    embedder = as_embedder(embedder)
    per_call = TEXTS_PER_CALL if embedder.batch_invariant else 1
    out: dict[str, DocArtefacts] = {}
    group: list[tuple[Document, list[tuple[int, int]], list[tuple[int, int]]]] = []
    texts = 0
    with tqdm(total=len(todo), desc="documents", unit="doc", disable=not show_progress or len(todo) < 2) as bar:
        for i, d in enumerate(todo):
            sentences, passages = segment_document(d, embedder, chunker)
            group.append((d, sentences, [(p.start, p.end) for p in passages]))
            texts += len(sentences) + len(passages)
            if texts >= per_call or i == len(todo) - 1:
                out.update(_embed_group(group, embedder))
                bar.update(len(group))
                group, texts = [], 0
    return out


def _embed_group(
    group: list[tuple[Document, list[tuple[int, int]], list[tuple[int, int]]]], embedder: Embedder
) -> dict[str, DocArtefacts]:
    """One embedding call for the sentences and passages of these documents, each
    distinct text once (a short passage often is one of the sentences)."""
    texts = [d.text[s:e] for d, sentences, passages in group for s, e in (*sentences, *passages)]
    row = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    unique = embedder.embed(list(row)).reshape(len(row), embedder.dim)
    bad = bad_rows(unique)  # stored, such a vector would make the index refused as corrupt when loaded
    if len(bad):
        raise ModelError(f"the embedder {embedder.model_id!r} gave {list(row)[bad[0]][:40]!r} a vector that is not of "
                         "unit length (NaN, infinite, longer or shorter); its embed must return L2-normalised rows")
    vectors = unique[np.asarray([row[t] for t in texts], dtype=np.int64)]
    out, at = {}, 0
    for d, sentences, passages in group:
        s_spans = np.asarray(sentences, dtype=np.int64).reshape(-1, 2)
        p_spans = np.asarray(passages, dtype=np.int64).reshape(-1, 2)
        mine = vectors[at : at + len(sentences) + len(passages)]
        at += len(mine)
        out[d.sha256] = DocArtefacts(s_spans, p_spans, mine[: len(sentences)], mine[len(sentences) :])
    return out
