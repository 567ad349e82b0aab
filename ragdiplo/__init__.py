"""ragdiplo: small, offline retrieval-augmented question answering with exact citations.

The names here are what a user of the ``QA`` facade needs: asking, settings,
answers, building and editing an index, the embedder, and the errors worth
catching. Everything else is imported from its stage module
(``ragdiplo.embed.onnx_backend.OnnxEmbedder``, ``ragdiplo.stores.faiss_store.StoreConfig``...),
and every exception the library raises is in ``ragdiplo.errors``.

Names are imported on first use (PEP 562), so ``import ragdiplo`` loads none of
numpy, FAISS, bm25s or a model runtime; torch loads only when a torch embedder
is built.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ragdiplo._version import __version__

# The one list of public names, each with the module it comes from. The
# TYPE_CHECKING imports below repeat it for type checkers and IDEs
# (tests/test_public_names.py keeps the two equal).
_MODULE_OF = {
    "QA": "qa",
    "QAConfig": "answer.settings",
    "RetrievalConfig": "answer.retrieval",
    "Answer": "types",
    "Citation": "types",
    "Hit": "types",
    "Document": "types",
    "Where": "types",
    "load_corpus": "ingest.corpus",
    "build_index": "index.build",
    "save_index": "index.build",
    "load_index": "index.load",
    "edit_index": "index.update",
    "Embedder": "embed.base",
    "default_embedder": "embed.factory",
    "RagdiploError": "errors",
    "ConfigError": "errors",
    "CorpusError": "errors",
    "QuestionError": "errors",
    "IndexLoadError": "errors",
    "IndexWriteError": "errors",
}

__all__ = ["__version__", *_MODULE_OF]


if not TYPE_CHECKING:  # hidden from type checkers, which would take any name it answers for

    def __getattr__(name: str) -> Any:
        module = _MODULE_OF.get(name)
        if module is None:
            raise AttributeError(f"module 'ragdiplo' has no attribute {name!r}")
        value = getattr(import_module(f".{module}", __name__), name)
        globals()[name] = value  # the next access is a plain lookup
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing is imported at run time ("X as X": re-exported)
    from ragdiplo.answer.retrieval import RetrievalConfig as RetrievalConfig
    from ragdiplo.answer.settings import QAConfig as QAConfig
    from ragdiplo.embed.base import Embedder as Embedder
    from ragdiplo.embed.factory import default_embedder as default_embedder
    from ragdiplo.errors import ConfigError as ConfigError
    from ragdiplo.errors import CorpusError as CorpusError
    from ragdiplo.errors import IndexLoadError as IndexLoadError
    from ragdiplo.errors import IndexWriteError as IndexWriteError
    from ragdiplo.errors import QuestionError as QuestionError
    from ragdiplo.errors import RagdiploError as RagdiploError
    from ragdiplo.index.build import build_index as build_index
    from ragdiplo.index.build import save_index as save_index
    from ragdiplo.index.load import load_index as load_index
    from ragdiplo.index.update import edit_index as edit_index
    from ragdiplo.ingest.corpus import load_corpus as load_corpus
    from ragdiplo.qa import QA as QA
    from ragdiplo.types import Answer as Answer
    from ragdiplo.types import Citation as Citation
    from ragdiplo.types import Document as Document
    from ragdiplo.types import Hit as Hit
    from ragdiplo.types import Where as Where
