"""LangChain adapters: ``Qwen3VLEmbeddings``, ``Qwen3VLRerank``, ``Qwen3SemanticChunker``.

Thin wrappers over :mod:`qwen3_vl_rag.core`: framework types in, core calls, framework types out.
Models load at construction, as in the LlamaIndex adapters (``lazy=True``: on first use, so constructing
is free and works offline).
"""

from . import _requires  # noqa: F401  (first: a missing framework names its extra)
from .chunker import Qwen3SemanticChunker
from .embeddings import Qwen3VLEmbeddings
from .pdf import Qwen3PDFLoader
from .rerank import Qwen3VLRerank
from .retriever import Qwen3VLTwoStageRetriever
from .stores import add_documents, add_images

__all__ = ["Qwen3SemanticChunker", "Qwen3VLEmbeddings", "Qwen3VLRerank", "add_documents", "add_images"]
__all__ += ["Qwen3VLTwoStageRetriever"]  # two-stage Matryoshka retrieval (extra: qdrant)
__all__ += ["Qwen3PDFLoader"]  # PDF pages as page images (extra: pdf)
