"""Document metadata on answers: each citation carries its document's title,
date and source (retrieved passages get theirs from ``Index.passage``), so a
reader of a news answer sees when and where each quoted sentence was published."""

from __future__ import annotations

from dataclasses import replace

from ragdiplo.index.build import Index
from ragdiplo.types import Answer, Citation


def cite_with_metadata(index: Index, citation: Citation) -> Citation:
    doc = index.document(citation.doc_id)
    return replace(citation, title=doc.title, date=doc.date, source=doc.source)


def with_metadata(index: Index, answer: Answer) -> Answer:
    """``answer`` with the metadata of every cited document (and of the
    closest sentences of a withheld answer)."""
    if not answer.citations and not answer.closest:
        return answer
    return replace(answer, citations=tuple(cite_with_metadata(index, c) for c in answer.citations),
                   closest=tuple(cite_with_metadata(index, c) for c in answer.closest))
