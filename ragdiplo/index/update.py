"""Incremental updates: add, change and remove documents without re-embedding the rest.

Every function here returns exactly the index a full rebuild of the resulting
documents would give (same passages, same vectors bit for bit, same search
results): both go through ``canonical`` and ``assemble``, and the artefacts of
texts the index already holds are reused instead of recomputed. Only a change of
model or chunker settings forces everything to be embedded again.

Any embedder whose vectors agree with the index's may edit it (``compat``: the
same model run by another backend or precision); the one the index records is
preferred when none is given, and then the equality above holds bit for bit.
With another backend, new vectors agree with a rebuild's within the tolerance
of ``compat`` and the index keeps its record of the backend that made the rest.

On disk, ``edit_index`` holds the folder's write lock from reading the index to
saving the new one, so two writers can never lose each other's changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ragdiplo.durable import DEFAULT_LOCK_TIMEOUT, write_lock
from ragdiplo.embed.base import Embedder, EmbedderLike, as_embedder
from ragdiplo.embed.factory import default_embedder, index_embedder
from ragdiplo.errors import (
    DocumentIdError,
    IndexLoadError,
    IndexNotFoundError,
    IndexUnavailableError,
)
from ragdiplo.index.artefacts import DocArtefacts, canonical, segment_and_embed
from ragdiplo.index.build import Index, assemble, check_chunker, claim_folder, save_locked, store_config
from ragdiplo.index.compat import analyser_change, check_compatible, incompatibility
from ragdiplo.index.load import read_index, read_manifest
from ragdiplo.ingest.chunking import ChunkerConfig
from ragdiplo.stores.bm25 import BM25
from ragdiplo.stores.faiss_store import StoreConfig, StoreKind
from ragdiplo.stores.rowfile import bad_rows
from ragdiplo.types import Document

Fingerprint = tuple[str, str]  # text SHA-256, metadata as sorted JSON


@dataclass(frozen=True)
class Changes:
    """What an update did, by document id."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    embedded: int = 0  # distinct texts chunked and embedded
    rebuilt: str | None = None  # why nothing could be reused, when that happened
    reanalysed: str | None = None  # why BM25 was made anew from the stored texts (another analyser)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt or self.reanalysed)

    def summary(self) -> str:
        counts = f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed"
        text = f"{counts}, {self.unchanged} unchanged; {self.embedded} texts embedded"
        text += f" (BM25 made anew: {self.reanalysed})" if self.reanalysed else ""
        return f"{text} (full rebuild: {self.rebuilt})" if self.rebuilt else text


def fingerprints(index: Index | None) -> dict[str, Fingerprint]:
    """What decides whether a document changed, by id: its text or its metadata
    (a change of metadata alone re-embeds nothing: artefacts are kept by text)."""
    if index is None:
        return {}
    out = {}
    for i in index.ids:
        d = index.document(i)
        out[i] = (d.sha256, json.dumps(d.meta, sort_keys=True))
    return out


def diff(before: dict[str, Fingerprint], after: dict[str, Fingerprint], embedded: int, rebuilt: str | None) -> Changes:
    return Changes(
        added=tuple(sorted(after.keys() - before.keys())),
        updated=tuple(sorted(i for i in after.keys() & before.keys() if after[i] != before[i])),
        removed=tuple(sorted(before.keys() - after.keys())),
        unchanged=sum(1 for i in after.keys() & before.keys() if after[i] == before[i]),
        embedded=embedded,
        rebuilt=rebuilt,
    )


def documents_of(index: Index | None) -> dict[str, Document]:
    """Every document of ``index`` under its own id (aliases included)."""
    if index is None:
        return {}
    return {i: replace(index.document(i), id=i) for i in index.ids}  # an alias has its stored document's metadata


def _rebuild(
    old: Index | None,
    documents: Iterable[Document],
    embedder: Embedder | EmbedderLike | None,
    chunker: ChunkerConfig,
    *,
    show_progress: bool = False,
    rebuilt: str | None = None,
) -> tuple[Index, Changes]:
    """The index of exactly ``documents``, reusing ``old``'s artefacts unless ``rebuilt`` says why not;
    it records ``old``'s model and backend when it keeps its vectors, else the embedder's."""
    reusable = sound_artefacts(old) if old is not None and rebuilt is None else {}
    stored, alias_of = canonical(documents)
    todo = [d for d in stored if d.sha256 not in reusable]
    fresh = {}
    if todo:
        if embedder is None:
            raise ValueError("new texts need an embedder")
        fresh = segment_and_embed(todo, embedder, chunker, show_progress=show_progress)
    if old is not None and (rebuilt is None or embedder is None):
        model: Embedder | Index = old
    elif embedder is not None:
        model = as_embedder(embedder)
    else:
        raise ValueError("a new index needs an embedder")
    ann = old.ann if old is not None else None  # an index keeps its settings: exact or approximate by size
    index = assemble(stored, alias_of, {**reusable, **fresh}, model, chunker, ann)
    return index, diff(fingerprints(old), fingerprints(index), len(todo), rebuilt)


def sound_artefacts(index: Index) -> dict[str, DocArtefacts]:
    """``index.artefacts()`` less those of texts with a stored vector that is not a
    unit vector (``bad_rows``): such texts are embedded again, never reused. One
    pass over each vector array (a memory-mapped one is read here, in chunks)."""
    damaged = {index.documents[int(d)].sha256 for rows, vectors in ((index.passage_rows, index.passage_vectors),
                                                                     (index.sentence_rows, index.sentence_vectors))
               for d in np.unique(np.asarray(rows)[bad_rows(vectors), 0])}
    return {sha: a for sha, a in index.artefacts().items() if sha not in damaged}


def sync_documents(
    index: Index | None,
    documents: Iterable[Document],
    embedder: Embedder | EmbedderLike,
    chunker: ChunkerConfig | None = None,
    *,
    show_progress: bool = False,
) -> tuple[Index, Changes]:
    """The index of exactly ``documents`` (a whole corpus): new and changed texts
    are embedded, missing ids dropped, the rest reused. ``chunker`` defaults to
    the one ``index`` was built with (the model's default for another model);
    another model (``compat``) or chunker rebuilds everything."""
    model = incompatibility(index, embedder) if index is not None else None
    if index is not None and model is None and as_embedder(embedder).model_id != index.model_id:
        # the same vectors under another name (a manifest edited, a model folder renamed): the record must
        # name the model that reads questions for it, or every question would look for the other one
        model = f"recorded as made by the model {index.model_id!r}, but synced with {embedder.model_id!r}"
    if chunker is None and index is not None and model is None and index.chunker.max_tokens <= embedder.max_tokens:
        chunker = index.chunker
    chunker = check_chunker(embedder, chunker)
    why = f"the model changed: the index was {model}" if model is not None else None
    if index is not None and why is None and index.chunker != chunker:
        why = f"the chunker settings changed from {index.chunker.to_dict()} to {chunker.to_dict()}"
    return _rebuild(index, documents, embedder, chunker, show_progress=show_progress, rebuilt=why)


def add_documents(
    index: Index | None, documents: Iterable[Document], embedder: Embedder | EmbedderLike
) -> tuple[Index, Changes]:
    """``index`` plus new ``documents``; an id already in the index is an error."""
    documents = list(documents)
    current = documents_of(index)
    clash = sorted(d.id for d in documents if d.id in current)
    if clash:
        raise DocumentIdError(f"already in the index: {', '.join(map(repr, clash[:5]))}; use update_documents")
    if index is None:
        return sync_documents(None, documents, embedder)
    check_compatible(index, embedder, editing=True)
    return _rebuild(index, [*current.values(), *documents], embedder, index.chunker)


def update_documents(
    index: Index | None, documents: Iterable[Document], embedder: Embedder | EmbedderLike
) -> tuple[Index, Changes]:
    """``index`` with the text and metadata of existing ids replaced (a change of
    metadata alone embeds nothing)."""
    documents = list(documents)
    current = documents_of(index)
    unknown = sorted(d.id for d in documents if d.id not in current)
    if unknown or index is None:
        raise DocumentIdError(f"not in the index: {', '.join(map(repr, unknown[:5]))}; use add_documents")
    check_compatible(index, embedder, editing=True)
    current.update({d.id: d for d in documents})
    return _rebuild(index, current.values(), embedder, index.chunker)


def delete_documents(index: Index | None, ids: Iterable[str]) -> tuple[Index, Changes]:
    """``index`` without ``ids``; nothing is embedded."""
    ids = list(ids)
    current = documents_of(index)
    unknown = sorted(i for i in ids if i not in current)
    if unknown or index is None:
        raise DocumentIdError(f"not in the index: {', '.join(map(repr, unknown[:5]))}; nothing was deleted")
    for i in ids:
        del current[i]
    return _rebuild(index, current.values(), None, index.chunker)


class IndexEditor:
    """Changes to one index folder, made by ``edit_index`` while it holds the lock."""

    def __init__(
        self,
        index: Index | None,
        problem: IndexLoadError | None,
        embedder: Embedder | EmbedderLike | None,
        chunker: ChunkerConfig | None = None,
        show_progress: bool = False,
        reanalysed: str | None = None,
    ) -> None:
        self._index = index
        self._reanalysed = reanalysed
        self._embedder = embedder
        self._problem = problem
        self._chunker = chunker
        self._show_progress = show_progress
        self._before = fingerprints(index)
        self._embedded = 0
        self._rebuilt: str | None = None

    @property
    def embedder(self) -> Embedder | EmbedderLike:
        """The embedder given, else the index's model on the backend it records (loaded
        on first use: a delete needs none)."""
        if self._embedder is None:
            index = self._index if self._problem is None else None
            self._embedder = (index_embedder(index.model_id, index.backend, index.precision) if index is not None
                              else default_embedder())
        return self._embedder

    @property
    def index(self) -> Index:
        """The index as edited so far."""
        if self._index is None:
            raise IndexNotFoundError("there is no index yet; add documents first")
        return self._index

    def _readable(self) -> Index | None:
        """An unreadable index may not be edited piecemeal: that would silently drop
        its documents. Only ``sync``, which is given the whole corpus, replaces it."""
        if self._problem is not None:
            raise self._problem
        return self._index

    def _apply(self, result: tuple[Index, Changes]) -> None:
        self._index, changes = result
        self._embedded += changes.embedded
        self._rebuilt = self._rebuilt or changes.rebuilt

    def add(self, documents: Iterable[Document]) -> None:
        self._apply(add_documents(self._readable(), documents, self.embedder))

    def update(self, documents: Iterable[Document]) -> None:
        self._apply(update_documents(self._readable(), documents, self.embedder))

    def delete(self, ids: Iterable[str]) -> None:
        self._apply(delete_documents(self._readable(), ids))

    def sync(self, documents: Iterable[Document]) -> None:
        result = sync_documents(self._index, documents, self.embedder, self._chunker, show_progress=self._show_progress)
        if self._problem is not None:
            self._rebuilt, self._problem = f"the old index could not be read ({self._problem})", None
        self._apply(result)

    @property
    def changes(self) -> Changes:
        changes = diff(self._before, fingerprints(self._index), self._embedded, self._rebuilt)
        return replace(changes, reanalysed=self._reanalysed)


@contextmanager
def edit_index(
    path: str | os.PathLike[str],
    embedder: Embedder | EmbedderLike | None = None,
    chunker: ChunkerConfig | None = None,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    show_progress: bool = False,
    store: StoreConfig | None = None,
    corpus: str | os.PathLike[str] | None = None,
) -> Iterator[IndexEditor]:
    """Lock the index folder ``path``, load it, let the block change it, save it once.

    >>> with edit_index("index/") as editor:                # doctest: +SKIP
    ...     editor.add([Document("new.txt", text)])
    ...     editor.delete(["old.txt"])
    >>> editor.changes.summary()                            # doctest: +SKIP

    Nothing is saved when the block raises or changes nothing. ``embedder``
    defaults to the index's model on the backend it records (the default one
    for a new index); any embedder of the same model is accepted (``compat``). A missing index starts empty; ``chunker`` applies to ``sync`` (default: the index's own).
    ``store`` moves the vectors to another store (default: where they are now).
    ``path`` must be new, empty or an index, and apart from ``corpus`` (``claim_folder``).
    """
    root = Path(path)
    claim_folder(root, corpus)
    with write_lock(root, lock_timeout):
        index, current = None, _recorded_store(root)
        problem: IndexLoadError | None = None
        target = StoreConfig.choose(store, current)
        target.check_chosen(root, store)
        try:  # the store is opened (and so checked) unless the vectors move elsewhere
            index = read_index(root, store=store if target == current else None, open_store=target == current)
        except IndexNotFoundError:
            pass
        except IndexUnavailableError as err:
            if not _lite_file_gone(store):
                raise  # permissions or an unreachable store: the index is fine, a rebuild would only hide that
            problem = err  # the Milvus Lite file named by the caller is gone: the index is rebuilt into a new one
        except IndexLoadError as err:
            problem = err  # corrupt: ``sync`` rebuilds it, into the store it was kept in
        current = store_config(index) if index is not None else current
        stale = analyser_change(index) if index is not None else None
        if index is not None and stale is not None:  # made anew from the texts it holds: nothing is embedded
            index.bm25 = BM25.build(index.passage_texts())
        editor = IndexEditor(index, problem, embedder, chunker, show_progress, stale)
        yield editor
        if editor.changes.changed or (index is not None and target != current):
            save_locked(editor.index, root, target, show_progress=show_progress)


def _lite_file_gone(store: StoreConfig | None) -> bool:
    """Whether the caller named a Milvus Lite file that no longer exists (asked for by name, it is made anew)."""
    from ragdiplo.stores.milvus import is_lite  # an error path only: no Milvus code on the way to a FAISS index

    uri = str(store.uri) if store is not None and store.kind == StoreKind.MILVUS and store.uri else ""
    return bool(uri) and is_lite(uri) and not Path(uri).exists()


def _recorded_store(root: Path) -> StoreConfig | None:
    """The store the manifest names, even when the rest of the index cannot be read
    (a rebuild then stays there instead of moving to FAISS); None without one."""
    try:
        return StoreConfig.from_manifest(read_manifest(root).get("store"))
    except (IndexLoadError, ValueError, TypeError, KeyError):
        return None
