"""ragdiplo: small, offline retrieval-augmented question answering with exact citations.

Names are imported on first use (PEP 562), so ``import ragdiplo`` loads none of
numpy, FAISS, bm25s or a model runtime; torch loads only when a torch embedder
is built.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ragdiplo._version import __version__

_MODULE_OF = {
    "AnnConfig": "stores.ann",
    "ChunkerConfig": "ingest.chunking", "chunk_document": "ingest.chunking",
    "load_corpus": "ingest.corpus",
    "Backend": "embed.base", "Embedder": "embed.base", "SentenceTransformerEmbedder": "embed.base",
    "default_embedder": "embed.factory",
    "OnnxEmbedder": "embed.onnx_backend",
    "OpenVinoEmbedder": "embed.openvino_backend",
    "ConfigError": "errors", "CorpusError": "errors", "DocumentIdError": "errors", "IndexCorruptError": "errors",
    "IndexLoadError": "errors", "IndexLockedError": "errors", "IndexMismatchError": "errors",
    "IndexNotFoundError": "errors", "IndexWriteError": "errors", "ModelError": "errors", "QuestionError": "errors",
    "RagdiploError": "errors", "GoldError": "errors", "OutputError": "errors", "IndexUnavailableError": "errors",
    "StoreUnreachableError": "errors",
    "Index": "index.build", "build_index": "index.build", "save_index": "index.build",
    "load_index": "index.load",
    "FaissStore": "stores.faiss_store", "StoreConfig": "stores.faiss_store", "StoreKind": "stores.faiss_store", "VectorStore": "stores.faiss_store",
    "Changes": "index.update", "add_documents": "index.update", "delete_documents": "index.update", "edit_index": "index.update",
    "sync_documents": "index.update", "update_documents": "index.update",
    "QA": "qa",
    "Calibration": "answer.scoring", "QAConfig": "answer.scoring",
    "Reader": "answer.reader", "ReaderSpan": "answer.reader", "TransformersReader": "answer.reader",
    "Fusion": "answer.retrieval", "RetrievalConfig": "answer.retrieval",
    "Answer": "types", "Citation": "types", "Document": "types", "Hit": "types", "Passage": "types", "Report": "types", "Where": "types",
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
    from ragdiplo.answer.reader import Reader, ReaderSpan, TransformersReader
    from ragdiplo.answer.retrieval import Fusion, RetrievalConfig
    from ragdiplo.answer.scoring import Calibration, QAConfig
    from ragdiplo.embed.base import Backend, Embedder, SentenceTransformerEmbedder
    from ragdiplo.embed.factory import default_embedder
    from ragdiplo.embed.onnx_backend import OnnxEmbedder
    from ragdiplo.embed.openvino_backend import OpenVinoEmbedder
    from ragdiplo.errors import (
        ConfigError,
        CorpusError,
        DocumentIdError,
        GoldError,
        IndexCorruptError,
        IndexLoadError,
        IndexLockedError,
        IndexMismatchError,
        IndexNotFoundError,
        IndexUnavailableError,
        IndexWriteError,
        ModelError,
        OutputError,
        QuestionError,
        RagdiploError,
        StoreUnreachableError,
    )
    from ragdiplo.index.build import Index, build_index, save_index
    from ragdiplo.index.load import load_index
    from ragdiplo.index.update import (
        Changes,
        add_documents,
        delete_documents,
        edit_index,
        sync_documents,
        update_documents,
    )
    from ragdiplo.ingest.chunking import ChunkerConfig, chunk_document
    from ragdiplo.ingest.corpus import load_corpus
    from ragdiplo.qa import QA
    from ragdiplo.stores.ann import AnnConfig
    from ragdiplo.stores.faiss_store import FaissStore, StoreConfig, StoreKind, VectorStore
    from ragdiplo.types import Answer, Citation, Document, Hit, Passage, Report, Where

__all__ = [
    "QA",
    "AnnConfig",
    "Answer",
    "Backend",
    "Calibration",
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
    "GoldError",
    "OutputError",
    "IndexUnavailableError",
    "StoreUnreachableError",
    "ModelError",
    "OnnxEmbedder",
    "OpenVinoEmbedder",
    "Passage",
    "QAConfig",
    "QuestionError",
    "RagdiploError",
    "Reader",
    "ReaderSpan",
    "Report",
    "RetrievalConfig",
    "SentenceTransformerEmbedder",
    "StoreConfig",
    "StoreKind",
    "TransformersReader",
    "VectorStore",
    "Where",
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
