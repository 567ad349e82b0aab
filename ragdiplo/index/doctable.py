"""The documents of an index, read from ``documents.jsonl`` one line at a time.

A loaded index normally holds every document text in RAM. For a big index that
is most of its memory (a million passages carry a few hundred MB of text), so a
memory-mapped index keeps only each document's id, byte offset and length in
characters, and reads a text from the mapped file when a passage or sentence of
it is asked for.
"""

from __future__ import annotations

import hashlib
import json
import mmap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from ragdiplo.ingest.corpus import check_doc_id
from ragdiplo.types import Document


def parse_document(line: bytes | str, where: str) -> Document:
    """One line of ``documents.jsonl``, checked (``Document`` checks the metadata;
    an index written before metadata existed has only ``title``)."""
    row = json.loads(line)
    if not isinstance(row["text"], str):
        raise TypeError("document text must be a string")
    tags = row.get("tags", [])
    if not isinstance(tags, list):
        raise TypeError("document tags must be a list")
    meta = {k: row.get(k) for k in ("title", "date", "source", "url")}
    return Document(id=check_doc_id(row["id"], where), text=row["text"], tags=tuple(tags), **meta)


def read_documents(file: Path) -> list[Document]:
    with open(file, encoding="utf-8") as f:
        return [parse_document(line, file.name) for line in f]


class MappedDocuments(Sequence[Document]):
    """``documents.jsonl`` memory-mapped; ``ids``, ``lengths`` (characters), ``digests`` and what
    metadata filters read (``facets``: row -> date, source, tags, for the documents
    that have any, so an index without metadata keeps nothing more) in RAM."""

    def __init__(self, file: Path) -> None:
        offsets, ids, lengths, digests = [0], [], [], []
        facets: dict[int, tuple[str | None, str | None, tuple[str, ...]]] = {}
        with open(file, "rb") as f:  # read, not mapped: a first pass must not leave every page resident
            for line in f:
                doc = parse_document(line, file.name)
                offsets.append(offsets[-1] + len(line))
                ids.append(doc.id)
                lengths.append(len(doc.text))
                digests.append(hashlib.sha256(doc.text.encode("utf-8")).digest())
                if doc.date or doc.source or doc.tags:
                    facets[len(ids) - 1] = (doc.date, doc.source, doc.tags)
            if not ids:
                raise ValueError(f"{file.name}: no documents")
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_RANDOM"):
            self._map.madvise(mmap.MADV_RANDOM)
        self._offsets = np.array(offsets, dtype=np.int64)
        self._where = file.name
        self.ids: list[str] = ids
        self.lengths = np.array(lengths, dtype=np.int64)
        # each text's SHA-256, 32 bytes a document (uint8: numpy's bytes type would drop trailing zero bytes)
        self.digests = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 32)
        self.facets = facets

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> Document: ...
    @overload
    def __getitem__(self, i: slice) -> list[Document]: ...

    def __getitem__(self, i: int | slice) -> Document | list[Document]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return parse_document(self._map[self._offsets[i] : self._offsets[i + 1]], self._where)

    def __iter__(self) -> Iterator[Document]:
        return (self[i] for i in range(len(self)))
