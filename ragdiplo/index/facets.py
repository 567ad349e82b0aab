"""What metadata filters read, for every stored document of an index at once:
dates as POSIX timestamps (NaN when undated), sources and tags folded to lower
case. Built once per index (``Index.facets``), so a filtered question costs a
few vector comparisons over the documents, not a parse of every date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragdiplo.types import Document, Where, parse_date

Facet = tuple[str | None, str | None, tuple[str, ...]]  # date, source, tags


@dataclass(frozen=True)
class Facets:
    dates: np.ndarray  # float64 (documents,): POSIX timestamp, NaN when undated
    sources: np.ndarray  # object (documents,): source in lower case, or None
    tags: tuple[frozenset[str], ...]  # lower case

    @classmethod
    def of(cls, documents: Sequence[Document]) -> Facets:
        """From ``documents`` (a memory-mapped table keeps its facets in RAM: no text is read)."""
        rows: dict[int, Facet] | None = getattr(documents, "facets", None)
        if rows is None:
            rows = {i: (d.date, d.source, d.tags) for i, d in enumerate(documents) if d.date or d.source or d.tags}
        dates = np.full(len(documents), np.nan, dtype=np.float64)
        sources = np.full(len(documents), None, dtype=object)
        tags: list[frozenset[str]] = [frozenset()] * len(documents)
        for i, (date, source, tagged) in rows.items():
            dates[i] = parse_date(date).timestamp() if date else np.nan
            sources[i] = source.casefold() if source else None
            tags[i] = frozenset(t.casefold() for t in tagged)
        return cls(dates, sources, tuple(tags))

    def mask(self, where: Where) -> np.ndarray:
        """Bool (documents,): which documents ``where`` lets through (as ``Where.matches``)."""
        ok = np.ones(len(self.dates), dtype=bool)
        if where.since is not None or where.until is not None:
            low, high = where.bounds()
            with np.errstate(invalid="ignore"):
                ok &= (self.dates >= low) & (self.dates < high)  # NaN (undated) compares False
        if where.source is not None:
            ok &= self.sources == where.source.strip().casefold()
        if where.tag is not None:
            tag = where.tag.strip().casefold()
            ok &= np.fromiter((tag in t for t in self.tags), dtype=bool, count=len(self.tags))
        return ok
