"""Framework-free Qwen3-VL / Qwen3 embedding, reranking and chunking (numpy and plain Python out)."""

from .embedder import Qwen3VLEmbedder
from .errors import InputError
from .text_embedder import Qwen3TextEmbedder

__all__ = ["InputError", "Qwen3TextEmbedder", "Qwen3VLEmbedder"]
