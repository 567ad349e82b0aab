"""ragdiplo: small, offline retrieval-augmented question answering with exact citations."""

from ._version import __version__
from .chunking import ChunkerConfig, chunk_document
from .corpus import load_corpus
from .embedding import Embedder, SentenceTransformerEmbedder
from .errors import ConfigError, CorpusError, IndexLoadError, IndexMismatchError, IndexNotFoundError, ModelError, QuestionError, RagdiploError
from .index import Index, build_index, load_index, save_index
from .pipeline import QA
from .qa import QAConfig
from .retrieval import Fusion, RetrievalConfig
from .types import Answer, Citation, Document, Hit, Passage

__all__ = [
    "QA",
    "Answer",
    "ChunkerConfig",
    "Citation",
    "ConfigError",
    "CorpusError",
    "Document",
    "Embedder",
    "Fusion",
    "Hit",
    "Index",
    "IndexLoadError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "ModelError",
    "Passage",
    "QAConfig",
    "QuestionError",
    "RagdiploError",
    "RetrievalConfig",
    "SentenceTransformerEmbedder",
    "__version__",
    "build_index",
    "chunk_document",
    "load_corpus",
    "load_index",
    "save_index",
]
