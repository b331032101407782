"""The nodes behind ``VectorStoreIndex``'s text-only embedding call, found in its frame (the one stack walk).

``VectorStoreIndex`` (``from_documents``, ``insert``, ``insert_nodes``, the constructor) embeds nodes through
llama-index-core's ``embed_nodes`` / ``async_embed_nodes``, which hand only the nodes' *texts* to
``get_text_embedding_batch``: an ``ImageNode`` would be embedded as its metadata string. No public hook passes
the nodes (a transformation runs only where the caller lists it), so ``index_nodes`` reads them from that
function's frame and checks them against the texts, text for text.

The layout this relies on is checked at import: both functions exist, take ``nodes`` and call the batch
methods. A llama-index-core that changed it fails here, naming its version, instead of embedding pixels as
text without a word.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Sequence

from llama_index.core.indices import utils as index_utils
from llama_index.core.schema import BaseNode, MetadataMode

from ._nodes import has_media


def _checked_codes() -> tuple[object, ...]:
    codes = []
    for name, calls in (("embed_nodes", "get_text_embedding_batch"),
                        ("async_embed_nodes", "aget_text_embedding_batch")):
        function = getattr(index_utils, name, None)
        code = getattr(function, "__code__", None)
        if code is None or "nodes" not in code.co_varnames[:code.co_argcount] or calls not in code.co_names:
            version = importlib.metadata.version("llama-index-core")
            raise ImportError(f"qwen3-vl-rag's Qwen3VLEmbedding needs llama_index.core.indices.utils.{name}(nodes, "
                              f"...) calling {calls}, which llama-index-core {version} does not have; "
                              "VectorStoreIndex would embed image nodes as text. Use a llama-index-core this "
                              "package supports (see pyproject.toml)")
        codes.append(code)
    return tuple(codes)


_INDEX_EMBED_CODES = _checked_codes()


def index_nodes(texts: Sequence[str]) -> list[BaseNode] | None:
    """The nodes whose ``texts`` ``VectorStoreIndex`` is asking for, when some carry media; else None.

    ``embed_nodes`` / ``async_embed_nodes`` build ``texts`` from the nodes without an embedding, in order;
    they are found in the calling frames (within 8 of the embedding method) and must match text for text.
    """
    frame = sys._getframe(2)
    for _ in range(8):
        if frame is None:
            return None
        if frame.f_code in _INDEX_EMBED_CODES:
            nodes = frame.f_locals.get("nodes") or []
            pending = [n for n in nodes if isinstance(n, BaseNode) and n.embedding is None]
            if len(pending) != len(texts) or not any(has_media(n) for n in pending):
                return None
            if any(n.get_content(metadata_mode=MetadataMode.EMBED) != t for n, t in zip(pending, texts)):
                return None
            return pending
        frame = frame.f_back
    return None
