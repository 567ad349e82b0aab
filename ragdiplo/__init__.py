"""ragdiplo: small, offline retrieval-augmented question answering with exact citations."""

from ._version import __version__
from .chunking import ChunkerConfig, chunk_document
from .corpus import load_corpus
from .embedding import Embedder, SentenceTransformerEmbedder
from .errors import ConfigError, CorpusError, IndexLoadError, IndexMismatchError, IndexNotFoundError, ModelError, QuestionError, RagdiploError
from .errors import DocumentIdError, IndexCorruptError, IndexLockedError, IndexWriteError
from .index import Index, build_index, load_index, save_index
from .store import FaissStore, StoreConfig, StoreKind, VectorStore
from .update import Changes, add_documents, delete_documents, edit_index, sync_documents, update_documents
from .pipeline import QA
from .qa import Calibration, QAConfig
from .reader import Reader, ReaderSpan, TransformersReader
from .retrieval import Fusion, RetrievalConfig
from .types import Answer, Citation, Document, Hit, Passage

__all__ = [
    "QA",
    "Calibration",
    "Reader",
    "ReaderSpan",
    "TransformersReader",
    "Answer",
    "Changes",
    "ChunkerConfig",
    "Citation",
    "ConfigError",
    "CorpusError",
    "Document",
    "DocumentIdError",
    "Embedder",
    "FaissStore",
    "Fusion",
    "Hit",
    "Index",
    "IndexCorruptError",
    "IndexLoadError",
    "IndexLockedError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexWriteError",
    "ModelError",
    "Passage",
    "QAConfig",
    "QuestionError",
    "RagdiploError",
    "RetrievalConfig",
    "SentenceTransformerEmbedder",
    "StoreConfig",
    "StoreKind",
    "VectorStore",
    "__version__",
    "add_documents",
    "build_index",
    "chunk_document",
    "delete_documents",
    "edit_index",
    "load_corpus",
    "load_index",
    "save_index",
    "sync_documents",
    "update_documents",
]
