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
from .rowfile import Vectors
from .types import Document


@dataclass(frozen=True)
class DocArtefacts:
    """What chunking and embedding made of one text; ids play no part in it."""

    sentences: np.ndarray  # int64 (m, 2): start, end
    passages: np.ndarray  # int64 (n, 2): start, end
    sentence_vectors: Vectors  # float32 (m, dim); a RowFile window when taken from a loaded index
    passage_vectors: Vectors  # float32 (n, dim)


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


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return embedder.embed(texts).reshape(len(texts), embedder.dim)


def segment_and_embed(
    documents: list[Document], embedder: Embedder, chunker: ChunkerConfig, *, show_progress: bool = False
) -> dict[str, DocArtefacts]:
    """Chunk and embed each distinct text once.

    Each document's texts are embedded in calls of their own: a model's output
    for a text can differ in the last bit with the other texts of its batch
    (padding changes the shapes of the sums), so batching across documents would
    make a document's vectors depend on which documents were embedded with it,
    and an incremental update would no longer equal a full rebuild bit for bit.
    It costs no speed (measured in the README, section "Index on disk").
    """
    from tqdm import tqdm

    todo = list({d.sha256: d for d in documents}.values())
    out: dict[str, DocArtefacts] = {}
    for d in tqdm(todo, desc="documents", unit="doc", disable=not show_progress or len(todo) < 2):
        sentences, passages = segment_document(d, embedder, chunker)
        p_spans = np.asarray([(p.start, p.end) for p in passages], dtype=np.int64).reshape(-1, 2)
        s_spans = np.asarray(sentences, dtype=np.int64).reshape(-1, 2)
        # one call for both kinds: a short passage often is one of the sentences, and
        # the embedder's length-sorted batches fill better with more texts
        texts = [d.text[s:e] for s, e in sentences] + [p.text for p in passages]
        row = {t: i for i, t in enumerate(dict.fromkeys(texts))}
        vectors = _embed(embedder, list(row))[np.asarray([row[t] for t in texts], dtype=np.int64)]
        out[d.sha256] = DocArtefacts(s_spans, p_spans, vectors[: len(sentences)], vectors[len(sentences) :])
    return out
