"""ragdiplo: small, offline retrieval-augmented question answering with exact citations.

Names are imported on first use (PEP 562), so ``import ragdiplo`` loads none of
numpy, FAISS, bm25s or a model runtime; torch loads only when a torch embedder
is built.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

_MODULE_OF = {
    "AnnConfig": "ann",
    "ChunkerConfig": "chunking", "chunk_document": "chunking",
    "load_corpus": "corpus",
    "Backend": "embedding", "Embedder": "embedding", "SentenceTransformerEmbedder": "embedding",
    "default_embedder": "embedding",
    "OnnxEmbedder": "onnx_embedding",
    "OpenVinoEmbedder": "openvino_embedding",
    "ConfigError": "errors", "CorpusError": "errors", "DocumentIdError": "errors", "IndexCorruptError": "errors",
    "IndexLoadError": "errors", "IndexLockedError": "errors", "IndexMismatchError": "errors",
    "IndexNotFoundError": "errors", "IndexWriteError": "errors", "ModelError": "errors", "QuestionError": "errors",
    "RagdiploError": "errors",
    "Index": "index", "build_index": "index", "save_index": "index",
    "load_index": "loading",
    "FaissStore": "store", "StoreConfig": "store", "StoreKind": "store", "VectorStore": "store",
    "Changes": "update", "add_documents": "update", "delete_documents": "update", "edit_index": "update",
    "sync_documents": "update", "update_documents": "update",
    "QA": "pipeline",
    "Calibration": "qa", "QAConfig": "qa",
    "Reader": "reader", "ReaderSpan": "reader", "TransformersReader": "reader",
    "Fusion": "retrieval", "RetrievalConfig": "retrieval",
    "Answer": "types", "Citation": "types", "Document": "types", "Hit": "types", "Passage": "types",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'ragdiplo' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing is imported at run time
    from .ann import AnnConfig
    from .chunking import ChunkerConfig, chunk_document
    from .corpus import load_corpus
    from .embedding import Backend, Embedder, SentenceTransformerEmbedder, default_embedder
    from .errors import (
        ConfigError,
        CorpusError,
        DocumentIdError,
        IndexCorruptError,
        IndexLoadError,
        IndexLockedError,
        IndexMismatchError,
        IndexNotFoundError,
        IndexWriteError,
        ModelError,
        QuestionError,
        RagdiploError,
    )
    from .index import Index, build_index, save_index
    from .loading import load_index
    from .onnx_embedding import OnnxEmbedder
    from .openvino_embedding import OpenVinoEmbedder
    from .pipeline import QA
    from .qa import Calibration, QAConfig
    from .reader import Reader, ReaderSpan, TransformersReader
    from .retrieval import Fusion, RetrievalConfig
    from .store import FaissStore, StoreConfig, StoreKind, VectorStore
    from .types import Answer, Citation, Document, Hit, Passage
    from .update import Changes, add_documents, delete_documents, edit_index, sync_documents, update_documents

__all__ = [
    "QA",
    "Calibration",
    "Reader",
    "ReaderSpan",
    "TransformersReader",
    "AnnConfig",
    "Answer",
    "Backend",
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
    "OnnxEmbedder",
    "OpenVinoEmbedder",
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
    "default_embedder",
    "delete_documents",
    "edit_index",
    "load_corpus",
    "load_index",
    "save_index",
    "sync_documents",
    "update_documents",
]
