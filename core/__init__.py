"""Framework-free Qwen3-VL / Qwen3 embedding, reranking and chunking (numpy and plain Python out).

Layout: ``api`` (the user API and the ``Embedder`` / ``Reranker`` protocols), ``models`` (the four local
classes), ``engine`` (how a local model runs), ``formats`` (what the released models expect),
``remote`` (OpenAI-compatible servers), plus ``inputs``, ``media``, ``vectors``, ``identity``,
``fallback``, ``errors`` and ``chunking``.
"""

from .api import Embedder, Reranker
from .engine import BatchStats, EngineTuning, RuntimeOptions
from .errors import EmbeddingSpaceMismatch, InputError, MediaError, NoBackendAvailable, PromptTooLong, Qwen3RagError
from .models import Qwen3Reranker, Qwen3TextEmbedder, Qwen3VLEmbedder, Qwen3VLReranker

__all__ = [
    "BatchStats",
    "EmbeddingSpaceMismatch",
    "Embedder",
    "EngineTuning",
    "InputError",
    "MediaError",
    "NoBackendAvailable",
    "PromptTooLong",
    "Qwen3RagError",
    "Qwen3Reranker",
    "Qwen3TextEmbedder",
    "Qwen3VLEmbedder",
    "Qwen3VLReranker",
    "Reranker",
    "RuntimeOptions",
]
