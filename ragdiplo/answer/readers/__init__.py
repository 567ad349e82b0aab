"""Readers: the ``Reader`` protocol and ``ReaderSpan`` (``base.py``), the shipped ONNX reader (``shipped.py``) and any
transformers question-answering model (``transformers.py``)."""

from ragdiplo.answer.readers.base import Reader, ReaderSpan, locate

__all__ = ["Reader", "ReaderSpan", "locate"]
