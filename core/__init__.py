"""Framework-free Qwen3-VL / Qwen3 embedding, reranking and chunking (numpy and plain Python out)."""

from .embedder import Qwen3VLEmbedder
from .errors import InputError
from .reranker import Qwen3VLReranker
from .text_embedder import Qwen3TextEmbedder
from .text_reranker import Qwen3Reranker

__all__ = ["InputError", "Qwen3Reranker", "Qwen3TextEmbedder", "Qwen3VLEmbedder", "Qwen3VLReranker"]
