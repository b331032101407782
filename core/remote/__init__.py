"""Remote backends: embeddings and reranking from OpenAI-compatible servers (vLLM, OpenRouter, ...).

Needs the ``remote`` extra (httpx). The classes mirror the local ones (``Qwen3VLEmbedder``,
``Qwen3VLReranker``), so adapters and fallback chains work with either.
"""

from ..formats.rerank import RERANK_CHAT_TEMPLATE
from .client import RemoteClient, parse_retry_after
from .embedder import KNOWN_DIMENSIONS, OPENROUTER_BASE_URL, RemoteEmbedder, default_protocol
from .errors import AuthenticationError, InsecureKeyWarning, RemoteError, RemoteResponseError
from .reranker import RemoteReranker

__all__ = [
    "KNOWN_DIMENSIONS",
    "OPENROUTER_BASE_URL",
    "RERANK_CHAT_TEMPLATE",
    "AuthenticationError",
    "InsecureKeyWarning",
    "RemoteClient",
    "RemoteEmbedder",
    "RemoteError",
    "RemoteReranker",
    "RemoteResponseError",
    "default_protocol",
    "parse_retry_after",
]
