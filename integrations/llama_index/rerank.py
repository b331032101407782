"""``Qwen3VLRerank``: Qwen3-VL-Reranker as a LlamaIndex node postprocessor (text, image and mixed nodes)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr, field_serializer
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from qwen3_vl_rag.core.identity import check_documents_space

from .._lazy import LazyModel
from .._shared import (
    DEFAULT_RERANK_MODEL,
    MODEL_ARGUMENTS,
    MODEL_KWARGS_ALIASES,
    core_kwargs,
    jsonable_model_kwargs,
    refuse_unknown,
    take_model_arguments,
)
from ._nodes import node_item, query_item

DEFAULT_MODEL = DEFAULT_RERANK_MODEL

dispatcher = get_dispatcher(__name__)


class Qwen3VLRerank(BaseNodePostprocessor):
    """Reorders retrieved nodes by Qwen3-VL-Reranker relevance, P(yes) in [0, 1].

    Text nodes are scored as text, image nodes as their image (``ImageNode`` image / path / URL, or
    ``metadata["file_path"]`` etc.) with their text; an image query is ``QueryBundle.image_path``.
    Pass ``reranker=`` (any object with the core reranker's ``score`` / ``ascore``) or a ``model``
    name for a local ``Qwen3VLReranker`` built with ``model_kwargs`` (alias ``reranker_kwargs``); it loads
    at construction (``lazy=True``: on first use). ``SentenceTransformerRerank``'s ``device``,
    ``max_length``, ``cache_folder`` / ``cache_dir``, ``trust_remote_code`` and ``show_progress_bar`` are
    accepted; anything unknown is refused. ``top_n`` defaults to None (keep all, reordered) in both adapters.
    """

    model: str = Field(default=DEFAULT_MODEL, description="Hub id or local path of the reranker model.")
    top_n: int | None = Field(default=None, description="Nodes to keep, best first; None keeps all, reordered.")
    keep_retrieval_score: bool = Field(
        default=False, description='Keep the retriever\'s score in metadata["retrieval_score"].'
    )
    instruction: str | None = Field(default=None, description="Task instruction; None: the official default.")
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the local Qwen3VLReranker (device, dtype, ...)."
    )
    lazy: bool = Field(default=False, description="Load the model on first use instead of at construction.")

    _model: Any = PrivateAttr()

    def __init__(self, model: str | None = None, *, reranker: Any = None, **kwargs: Any) -> None:
        owner = type(self).__name__
        if "model_name" in kwargs:  # the LangChain adapter's (and HuggingFace*'s) name for it
            if model is not None:
                raise ValueError(f"{owner}: model_name= is another name for model=; pass one of them")
            model = kwargs.pop("model_name")
        accepted = {*type(self).model_fields, "model_name", *MODEL_ARGUMENTS, *MODEL_KWARGS_ALIASES}
        refuse_unknown(owner, set(kwargs) - accepted, accepted)
        kwargs = take_model_arguments(owner, kwargs, instance=reranker, instance_name="reranker")
        if reranker is not None:
            if model is not None and model != reranker.model_name:
                raise ValueError(f"model={model!r} conflicts with the reranker's {reranker.model_name!r}")
            model = reranker.model_name
        if kwargs.get("top_n") is not None and kwargs["top_n"] < 0:
            raise ValueError(f"top_n must be >= 0, got {kwargs['top_n']}")
        super().__init__(model=model or DEFAULT_MODEL, **kwargs)
        self._model = LazyModel(value=reranker) if reranker is not None else LazyModel(self._load)
        if not self.lazy:
            self._model.get()

    def _load(self) -> Any:
        from qwen3_vl_rag.core import Qwen3VLReranker

        return Qwen3VLReranker(self.model, **core_kwargs(self.model_kwargs))

    @field_serializer("model_kwargs")
    def _serialise_model_kwargs(self, value: dict[str, Any]) -> dict[str, Any]:
        return jsonable_model_kwargs(value, type(self).__name__)

    @classmethod
    def class_name(cls) -> str:
        return "Qwen3VLRerank"

    @property
    def reranker(self) -> Any:
        """The core reranker doing the work (loaded on first access with ``lazy=True``)."""
        return self._model.get()

    @property
    def client(self) -> Any:
        """The core reranker, under the LangChain adapter's name."""
        return self.reranker

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, documents = self._start(nodes, query_bundle)
        with self._ranking(nodes, query_bundle) as rank:
            if nodes:
                rank(self.reranker.score(query, documents, instruction=self.instruction))
        return rank.nodes

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, documents = self._start(nodes, query_bundle)
        with self._ranking(nodes, query_bundle) as rank:
            if nodes:
                rank(await self.reranker.ascore(query, documents, instruction=self.instruction))
        return rank.nodes

    @contextlib.contextmanager
    def _ranking(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> Iterator[_Rank]:
        """The rerank event around the scoring (none for no nodes); ``rank(scores)`` orders and trims the nodes."""
        rank = _Rank(self, nodes)
        if not nodes:
            yield rank
        else:
            with self._event(nodes, query_bundle) as event:
                yield rank
                event.on_end(payload={EventPayload.NODES: rank.nodes})
        rank.nodes = self._end(rank.nodes)

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


class _Rank:
    """The nodes of one rerank call: all of them until ``rank(scores)`` orders and trims them."""

    def __init__(self, owner: Qwen3VLRerank, nodes: list[NodeWithScore]) -> None:
        self._owner, self.nodes = owner, nodes

    def __call__(self, scores: Any) -> None:
        self.nodes = self._owner._ranked(self.nodes, scores)
