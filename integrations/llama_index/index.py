"""A ``VectorStoreIndex`` whose retrievers see every node of an external store, text nodes included.

llama-index-core 0.14 (``VectorStoreIndex.as_retriever``) restricts the search to the node ids of the
index structure. With a store that keeps the nodes' text (Qdrant, Chroma, LanceDB, Postgres, ...: its
``stores_text`` is True) that structure holds only ``ImageNode`` / ``IndexNode`` ids, so once an index holds
an image, text nodes are never retrieved again, with no error. ``Qwen3VLVectorStoreIndex`` (and
:func:`index_retriever` for an index you already have) search the whole collection instead, as a
``VectorIndexRetriever`` built without ``node_ids`` does; ``as_query_engine`` / ``as_chat_engine`` use it too.
"""

from __future__ import annotations

from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.indices.vector_store.retrievers import VectorIndexRetriever


def index_retriever(index: VectorStoreIndex, **kwargs: Any) -> BaseRetriever:
    """``index.as_retriever(**kwargs)`` that retrieves text and image nodes alike from a store that keeps text.

    ``node_ids=`` still restricts the search when you pass it."""
    if not isinstance(index, VectorStoreIndex):
        raise TypeError(f"index_retriever needs a VectorStoreIndex, got {type(index).__name__}")
    restrict = "node_ids" in kwargs
    retriever = VectorStoreIndex.as_retriever(index, **kwargs)
    if not index.vector_store.stores_text or restrict or not isinstance(retriever, VectorIndexRetriever):
        return retriever
    # the store holds every node, the index structure only media / index nodes: the same retriever, built
    # through its public constructor without node_ids (its callbacks and object map are the index's)
    return VectorIndexRetriever(index, callback_manager=retriever.callback_manager,
                                object_map=retriever.object_map, **kwargs)


class Qwen3VLVectorStoreIndex(VectorStoreIndex):
    """``VectorStoreIndex`` for text and image nodes in one external store: ``as_retriever`` (and so
    ``as_query_engine`` / ``as_chat_engine``) search every node, not only those in the index structure."""

    def as_retriever(self, **kwargs: Any) -> BaseRetriever:
        return index_retriever(self, **kwargs)
