"""``Qwen3VLTwoStageRetriever``: two-stage Matryoshka retrieval (coarse prefetch + full rescore) for LlamaIndex.

Text and image nodes share one Qdrant collection (``qwen3_vl_rag.core.retrieval.TwoStageIndex``): each
node is embedded once at full size, as :class:`Qwen3VLEmbedding` would embed it (image nodes as their
image, with their text when they have text), and stored with LlamaIndex's own node serialisation, so
retrieval gives back the same ``TextNode`` / ``ImageNode``. Put ``Qwen3VLRerank`` after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY, same_space_labels
from qwen3_vl_rag.core.retrieval import TwoStageIndex

from .._shared import two_stage_index
from ._nodes import node_item, query_item
from .embedding import Qwen3VLEmbedding

DEFAULT_TOP_K = 10



def add_nodes(index: TwoStageIndex, nodes: Sequence[BaseNode], *, batch_size: int = 64) -> list[str]:
    """Store ``nodes`` (text, image and mixed nodes) in ``index``; returns their node ids.

    A node that already carries a full-size embedding stamped with this index's space (e.g. from an
    ``IngestionPipeline`` with ``Qwen3VLEmbedding``) is not embedded again; a node stamped with another
    space is refused (``EmbeddingSpaceMismatch``); every other node is embedded once.
    """
    from qwen3_vl_rag.core.identity import EmbeddingSpaceMismatch

    nodes = list(nodes)
    reuse, embed = [], []
    for position, node in enumerate(nodes):
        stamp = node.metadata.get(SPACE_METADATA_KEY)
        if stamp is not None and not same_space_labels(stamp, index.space_label):
            raise EmbeddingSpaceMismatch(
                f"node {position} ({node.node_id}) was embedded in {stamp}, this index holds {index.space_label}. "
                f"To store it here, clear node.embedding and node.metadata[{SPACE_METADATA_KEY!r}] (it is then "
                "embedded again by the index's embedder), or use an index of that space.")
        full_size = node.embedding is not None and len(node.embedding) == index.layout.full_dimension
        (reuse if stamp is not None and full_size else embed).append(node)
    if reuse:
        index.add_vectors(np.asarray([n.embedding for n in reuse], dtype=np.float32),
                          ids=[n.node_id for n in reuse], payloads=[_payload(n) for n in reuse])
    if embed:
        index.add([node_item(n) for n in embed], ids=[n.node_id for n in embed],
                  payloads=[_payload(n) for n in embed], batch_size=batch_size)
    return [n.node_id for n in nodes]


def _payload(node: BaseNode) -> dict[str, Any]:
    """LlamaIndex's own node serialisation (what its vector stores write), without the embedding."""
    payload = node_to_metadata_dict(node, remove_text=False, flat_metadata=False)
    payload.pop(SPACE_METADATA_KEY, None)  # the index stamps its own label
    return payload


def _node(payload: dict[str, Any]) -> BaseNode:
    node = metadata_dict_to_node(payload)
    node.metadata[SPACE_METADATA_KEY] = payload[SPACE_METADATA_KEY]
    for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
        if SPACE_METADATA_KEY not in excluded:
            excluded.append(SPACE_METADATA_KEY)
    return node


class Qwen3VLTwoStageRetriever(BaseRetriever):
    """Retrieves ``similarity_top_k`` nodes: coarse Matryoshka candidates, rescored at full size.

    ``index`` is a core ``TwoStageIndex`` (any Qdrant location: ``":memory:"``, a directory, a server
    URL). ``candidates`` overrides the index's rule (``max(10 * k, 100)`` by default); ``query_filter``
    is a ``qdrant_client.models.Filter`` on the stored node metadata. The query is ``query_str``, or
    ``image_path`` (with ``query_str`` when set) for an image query. Nodes come back with their full-size
    cosine score and ``metadata["embedding_space"]``, which ``Qwen3VLRerank`` checks.
    """

    def __init__(
        self,
        index: TwoStageIndex,
        similarity_top_k: int = DEFAULT_TOP_K,
        *,
        candidates: int | None = None,
        query_filter: Any = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if similarity_top_k < 1:
            raise ValueError(f"similarity_top_k must be >= 1, got {similarity_top_k}")
        if candidates is not None and candidates < similarity_top_k:
            raise ValueError(f"candidates ({candidates}) must be >= similarity_top_k ({similarity_top_k})")
        self.index = index
        self.similarity_top_k = similarity_top_k
        self.candidates = candidates
        self.query_filter = query_filter
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def from_nodes(
        cls,
        nodes: Sequence[BaseNode],
        embed_model: Any,
        location: str = ":memory:",
        *,
        index_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Qwen3VLTwoStageRetriever:
        """Build a ``TwoStageIndex`` at ``location`` with ``embed_model`` (a ``Qwen3VLEmbedding`` or a core
        embedder), add ``nodes`` and return a retriever over it (``kwargs`` go to the retriever)."""
        index = two_stage_index(embed_model, Qwen3VLEmbedding, location, index_kwargs)
        add_nodes(index, nodes)
        return cls(index, **kwargs)

    def add_nodes(self, nodes: Sequence[BaseNode], *, batch_size: int = 64) -> list[str]:
        """Store more nodes in the index (see :func:`add_nodes`)."""
        return add_nodes(self.index, nodes, batch_size=batch_size)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not (query_bundle.query_str or query_bundle.image_path):
            raise ValueError("the query has neither text (query_str) nor an image (image_path)")
        hits = self.index.search(query_item(query_bundle), k=self.similarity_top_k, candidates=self.candidates,
                                 query_filter=self.query_filter)
        return [NodeWithScore(node=_node(hit.payload), score=hit.score) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """The same search in a worker thread: the query's forward pass must not block the event loop."""
        return await asyncio.to_thread(self._retrieve, query_bundle)
