"""Exceptions raised at the library's boundaries; each message says what to do.

Every exception the library raises on purpose is defined here (and documented in
docs/guide.md#errors); the ones most worth catching are also top-level names
(``from ragdiplo import RagdiploError, QuestionError, ...``)."""


class RagdiploError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero.

    The message speaks to a library user (what went wrong, what to call);
    ``cli_message``, when given, is the same error told to a command-line user
    (which command or flag fixes it), and the CLI prints it instead. Library
    messages never name command-line flags.
    """

    def __init__(self, message: str, *, cli_message: str | None = None) -> None:
        super().__init__(message)
        self.cli_message = cli_message


class CorpusError(RagdiploError):
    """A corpus path or file cannot be read as text."""


class IndexLoadError(RagdiploError):
    """An index folder is missing, corrupt, or was built differently."""


class IndexCorruptError(IndexLoadError):
    """An index file is truncated, altered or unreadable."""


class IndexNotFoundError(IndexLoadError):
    """There is no index at that path."""


class IndexMismatchError(IndexLoadError):
    """The index was built with another model, chunker or format version."""


class IndexUnavailableError(IndexLoadError):
    """The index cannot be read for a reason outside its content (permissions, an
    unreachable store): nothing is wrong with it, so nothing is rebuilt."""


class StoreUnreachableError(IndexUnavailableError):
    """The vector store an index names (a Milvus server or Lite file) cannot be reached."""


class IndexWriteError(RagdiploError):
    """An index folder cannot be written (permissions, disk full...); the old index is kept."""


class IndexLockedError(IndexWriteError):
    """Another process holds the index's write lock."""


class DocumentIdError(RagdiploError, ValueError):
    """A document id is unusable, already present (add) or absent (update, delete)."""


class ConfigError(RagdiploError, ValueError):
    """A setting is out of range (chunk size, overlap, k...)."""


class GoldError(RagdiploError):
    """A gold question file is missing or malformed."""


class OutputError(RagdiploError):
    """An output file (predictions, metrics, a report, a run) cannot be written there."""


class ModelError(RagdiploError):
    """An embedding model cannot be loaded."""


class QuestionError(RagdiploError, ValueError):
    """A question or query parameter is unusable."""
