"""The four local model classes, each a short composition of options, Runner, encoder, format and head."""

from .text_embedder import Qwen3TextEmbedder
from .text_reranker import Qwen3Reranker
from .vl_embedder import Qwen3VLEmbedder
from .vl_reranker import Qwen3VLReranker

__all__ = ["Qwen3Reranker", "Qwen3TextEmbedder", "Qwen3VLEmbedder", "Qwen3VLReranker"]
