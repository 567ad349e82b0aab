"""What the command line says while it works: numbered stage lines for a build,
the library's one-time notices, and the summary of an index update.

A build spends most of its time outside the embedding bar (reading the corpus,
loading the model, saving), so each stage says when it starts, out of how many:
``[2/5] loading the embedding model``. Everything goes to stderr, only when
stderr is a terminal (a person watching; scripts and logs get the summary and
errors alone) and never when the command is quiet (``-q``).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ragdiplo.cli import terminal
from ragdiplo.cli.options import describe_vector_index

if TYPE_CHECKING:  # imported when used: ``ragdiplo --help`` stays quick
    from ragdiplo.ingest.chunking import ChunkerConfig
    from ragdiplo.stores.faiss_store import StoreConfig
    from ragdiplo.types import Document

LIBRARY_LOGGER = "ragdiplo"  # the library's notices (an embedding model prepared once) are logged under it


def on_terminal() -> bool:
    """Whether stderr is a terminal: progress and notices are for a person watching."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Stages:
    """``[n/total] what`` on stderr as each of ``total`` stages starts (nothing when
    ``quiet`` or when stderr is not a terminal)."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.total, self.quiet, self.done = total, quiet or not on_terminal(), 0

    def __call__(self, what: str) -> None:
        if self.done >= self.total:
            raise ValueError(f"only {self.total} stages were announced")
        self.done += 1
        if not self.quiet:
            print(f"[{self.done}/{self.total}] {terminal.escape_line(what)}", file=sys.stderr, flush=True)


class _NoticeLine(logging.Handler):
    """A library notice as one ``ragdiplo: ...`` line on the stderr of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"ragdiplo: {terminal.escape_line(record.getMessage())}", file=sys.stderr, flush=True)
        except Exception:  # a notice must never stop a command
            self.handleError(record)


@contextmanager
def library_notices(shown: bool) -> Iterator[None]:
    """While a command runs, the library's INFO notices (``embed.export.PREPARING``:
    the model is prepared for this machine, once) are printed, when ``shown``;
    the logger is left as it was afterwards; never when stderr is not a terminal."""
    if not shown or not on_terminal():
        yield
        return
    logger, handler = logging.getLogger(LIBRARY_LOGGER), _NoticeLine(logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def sync_in_stages(
    index_dir: str, documents: list[Document], embedder: Any, chunker: ChunkerConfig | None, stage: Stages, *,
    corpus: str, store: StoreConfig | None, lock_timeout: float,
) -> tuple[Any, Any]:
    """The index folder brought up to date with ``documents`` (``edit_index``), in
    three stages: opening it (the lock, the old index), chunking and embedding what
    is new or changed, saving. Returns the index and its ``Changes``."""
    from ragdiplo.index.update import edit_index

    stage(f"opening {index_dir}/")
    with edit_index(index_dir, embedder, chunker, lock_timeout=lock_timeout, show_progress=not stage.quiet,
                    store=store, corpus=corpus) as editor:
        stage(f"chunking and embedding the new or changed documents of the {len(documents)} read")
        editor.sync(documents)
        changes = editor.changes
        stage(f"saving {index_dir}/" if changes.changed or store is not None else f"{index_dir}/ is up to date: nothing to save")
    return editor.index, changes


def index_summary(index: Any, changes: Any, index_dir: str, skipped: Counter[str]) -> list[str]:
    """What an update did, in one line (and one more on an approximate vector index)."""
    from ragdiplo.stores.faiss_store import FaissStore

    state = changes.summary() if changes.changed else "already up to date; nothing embedded"
    if skipped:
        state += f"; skipped {sum(skipped.values())}: " + ", ".join(f"{n} {why}" for why, n in skipped.items())
    lines = [f"indexed {len(index.ids)} documents as {len(index)} passages in {index_dir}/ ({state})"]
    if isinstance(index.store, FaissStore) and index.store.approximate:
        lines.append(describe_vector_index(index.store.info))
    return lines
