"""LlamaIndex adapters: ``Qwen3VLEmbedding``, ``Qwen3VLRerank`` and ``Qwen3SemanticSplitter``.

Thin translations between LlamaIndex objects (nodes, query bundles, callbacks, events) and the
framework-free models of :mod:`qwen3_vl_rag.core`. Install with ``pip install "qwen3-vl-rag[llama-index]"``.
"""

from . import _requires  # noqa: F401  (first: a missing framework names its extra)
from .embedding import Qwen3VLEmbedding
from .index import Qwen3VLVectorStoreIndex, index_retriever
from .pdf import Qwen3PDFReader
from .rerank import Qwen3VLRerank
from .retriever import Qwen3VLTwoStageRetriever
from .splitter import Qwen3SemanticSplitter

__all__ = ["Qwen3SemanticSplitter", "Qwen3VLEmbedding", "Qwen3VLRerank", "Qwen3VLVectorStoreIndex", "index_retriever"]
__all__ += ["Qwen3VLTwoStageRetriever"]  # two-stage Matryoshka retrieval (extra: qdrant)
__all__ += ["Qwen3PDFReader"]  # PDF pages as page images (extra: pdf)
