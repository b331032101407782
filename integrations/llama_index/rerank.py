"""``Qwen3VLRerank``: Qwen3-VL-Reranker as a LlamaIndex node postprocessor (text, image and mixed nodes)."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from qwen3_vl_rag.core.identity import check_documents_space

from .._shared import DEFAULT_RERANK_MODEL
from ._nodes import node_item, query_item

DEFAULT_MODEL = DEFAULT_RERANK_MODEL

dispatcher = get_dispatcher(__name__)


class Qwen3VLRerank(BaseNodePostprocessor):
    """Reorders retrieved nodes by Qwen3-VL-Reranker relevance, P(yes) in [0, 1].

    Text nodes are scored as text, image nodes as their image (``ImageNode`` image / path / URL, or
    ``metadata["file_path"]`` etc.) with their text; an image query is ``QueryBundle.image_path``.
    Pass ``reranker=`` (any object with the core reranker's ``score`` / ``ascore``) or a ``model``
    name for a local ``Qwen3VLReranker`` built with ``reranker_kwargs``.
    """

    model: str = Field(default=DEFAULT_MODEL, description="Hub id or local path of the reranker model.")
    top_n: int | None = Field(default=None, description="Nodes to keep, best first; None keeps all, reordered.")
    keep_retrieval_score: bool = Field(
        default=False, description='Keep the retriever\'s score in metadata["retrieval_score"].'
    )
    instruction: str | None = Field(default=None, description="Task instruction; None: the official default.")
    reranker_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the local Qwen3VLReranker (device, dtype, ...)."
    )

    _reranker: Any = PrivateAttr()

    def __init__(
        self,
        model: str | None = None,
        *,
        reranker: Any = None,
        reranker_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if reranker is not None:
            if reranker_kwargs:
                raise ValueError("pass either reranker= or reranker_kwargs=, not both")
            if model is not None and model != reranker.model_name:
                raise ValueError(f"model={model!r} conflicts with the reranker's {reranker.model_name!r}")
            model = reranker.model_name
        if kwargs.get("top_n") is not None and kwargs["top_n"] < 0:
            raise ValueError(f"top_n must be >= 0, got {kwargs['top_n']}")
        super().__init__(model=model or DEFAULT_MODEL, reranker_kwargs=reranker_kwargs or {}, **kwargs)
        if reranker is None:
            from qwen3_vl_rag.core import Qwen3VLReranker

            reranker = Qwen3VLReranker(self.model, **self.reranker_kwargs)
        self._reranker = reranker

    @classmethod
    def class_name(cls) -> str:
        return "Qwen3VLRerank"

    @property
    def reranker(self) -> Any:
        """The core reranker doing the work."""
        return self._reranker

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, documents = self._start(nodes, query_bundle)
        if not nodes:
            return self._end([])
        with self._event(nodes, query_bundle) as event:
            scores = self._reranker.score(query, documents, instruction=self.instruction)
            ranked = self._ranked(nodes, scores)
            event.on_end(payload={EventPayload.NODES: ranked})
        return self._end(ranked)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, documents = self._start(nodes, query_bundle)
        if not nodes:
            return self._end([])
        with self._event(nodes, query_bundle) as event:
            scores = await self._reranker.ascore(query, documents, instruction=self.instruction)
            ranked = self._ranked(nodes, scores)
            event.on_end(payload={EventPayload.NODES: ranked})
        return self._end(ranked)

    # -- helpers -----------------------------------------------------------------------------------------
    def _start(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> tuple[Any, list[Any]]:
        dispatcher.event(ReRankStartEvent(query=query_bundle, nodes=nodes, top_n=self._top_n(nodes),
                                          model_name=self.model))
        if query_bundle is None:
            raise ValueError("Qwen3VLRerank needs a query: pass query_bundle= (or query_str=) to postprocess_nodes")
        check_documents_space([n.node.metadata for n in nodes], "retrieved nodes")
        return query_item(query_bundle), [node_item(n.node, MetadataMode.EMBED) for n in nodes]

    def _end(self, nodes: list[NodeWithScore]) -> list[NodeWithScore]:
        dispatcher.event(ReRankEndEvent(nodes=nodes))
        return nodes

    def _top_n(self, nodes: list[NodeWithScore]) -> int:
        return len(nodes) if self.top_n is None else self.top_n

    def _event(self, nodes: list[NodeWithScore], query_bundle: QueryBundle) -> Any:
        return self.callback_manager.event(
            CBEventType.RERANKING,
            payload={
                EventPayload.NODES: nodes,
                EventPayload.MODEL_NAME: self.model,
                EventPayload.QUERY_STR: query_bundle.query_str,
                EventPayload.TOP_K: self._top_n(nodes),
            },
        )

    def _ranked(self, nodes: list[NodeWithScore], scores: Any) -> list[NodeWithScore]:
        """New ``NodeWithScore`` objects, best first (stable for ties), the old score kept if asked."""
        if len(scores) != len(nodes):
            raise RuntimeError(f"the reranker returned {len(scores)} scores for {len(nodes)} nodes")
        rescored = []
        for item, score in zip(nodes, scores):
            node = item.node
            if self.keep_retrieval_score:
                node = node.model_copy(update={"metadata": {**node.metadata, "retrieval_score": item.score}})
            rescored.append(NodeWithScore(node=node, score=float(score)))
        rescored.sort(key=lambda n: -n.score)
        return rescored[: self._top_n(nodes)]
