"""Qwen3VLRerank: order and scores exactly the core reranker's, image nodes and queries, events."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.schema import ImageNode, MetadataMode, NodeWithScore, QueryBundle, TextNode

from qwen3_vl_rag.integrations.llama_index import Qwen3VLRerank

from .conftest import TEXTS


class Recorder(BaseEventHandler):
    """A real instrumentation handler that keeps every event it sees."""

    events: list = []

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event, **kwargs) -> None:
        self.events.append(event)


@pytest.fixture
def recorder():
    handler = Recorder(events=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    yield handler
    root.event_handlers.remove(handler)


@pytest.fixture
def candidates(image_paths):
    texts = [NodeWithScore(node=TextNode(text=t, metadata={"n": i}), score=0.9 - 0.1 * i) for i, t in enumerate(TEXTS)]
    images = [NodeWithScore(node=ImageNode(image_path=image_paths[0], text="caption"), score=0.5),
              NodeWithScore(node=TextNode(text="", metadata={"file_path": image_paths[1]}), score=0.4)]
    return texts + images


def test_order_and_scores_are_the_core_rerankers(vl_reranker, candidates, image_paths, recorder):
    rerank = Qwen3VLRerank(reranker=vl_reranker, top_n=4, keep_retrieval_score=True)
    handler = LlamaDebugHandler()
    rerank.callback_manager = CallbackManager([handler])
    retrieval_scores = {id(c.node): c.score for c in candidates}
    result = rerank.postprocess_nodes(candidates, query_str="solar power")

    documents = [c.node.get_content(metadata_mode=MetadataMode.EMBED) for c in candidates[:3]]
    documents += [{"image": image_paths[0], "text": candidates[3].node.get_content(metadata_mode=MetadataMode.EMBED)},
                  {"image": image_paths[1]}]
    expected = vl_reranker.rerank("solar power", documents, top_n=4)
    assert [(r.node.node_id, r.score) for r in result] == [
        (candidates[i].node.node_id, pytest.approx(s, abs=1e-6)) for i, s in expected]
    assert all(type(r.score) is float for r in result)
    assert [r.score for r in result] == sorted((r.score for r in result), reverse=True)
    for r in result:
        original = next(c for c in candidates if c.node.node_id == r.node.node_id)
        assert r.node.metadata["retrieval_score"] == retrieval_scores[id(original.node)]
        assert "retrieval_score" not in original.node.metadata  # the retrieved node is not mutated

    names = [type(e).__name__ for e in recorder.events]
    assert "ReRankStartEvent" in names and "ReRankEndEvent" in names
    end = next(e for e in recorder.events if type(e).__name__ == "ReRankEndEvent")
    assert [n.node.node_id for n in end.nodes] == [r.node.node_id for r in result]
    pairs = handler.get_event_pairs(CBEventType.RERANKING)
    assert len(pairs) == 1


def test_image_query_and_top_n_none(vl_reranker, candidates, image_paths):
    rerank = Qwen3VLRerank(reranker=vl_reranker)
    result = rerank.postprocess_nodes(candidates, QueryBundle(query_str="", image_path=image_paths[2]))
    assert len(result) == len(candidates)
    scores = vl_reranker.score({"image": image_paths[2]}, _items(candidates))
    assert sorted(r.score for r in result) == pytest.approx(sorted(scores.tolist()), abs=1e-6)
    assert "retrieval_score" not in result[0].node.metadata


def _items(candidates):
    from qwen3_vl_rag.integrations.llama_index._nodes import node_item

    return [node_item(c.node) for c in candidates]


def test_async_matches_sync(vl_reranker, candidates):
    rerank = Qwen3VLRerank(reranker=vl_reranker, top_n=3)
    sync = rerank.postprocess_nodes(candidates, query_str="revenue")
    async_ = asyncio.run(rerank.apostprocess_nodes(candidates, query_str="revenue"))
    assert [(n.node.node_id, n.score) for n in sync] == [(n.node.node_id, pytest.approx(n.score)) for n in async_]


def test_empty_input_and_missing_query(vl_reranker, candidates):
    rerank = Qwen3VLRerank(reranker=vl_reranker, top_n=2)
    assert rerank.postprocess_nodes([], query_str="x") == []
    with pytest.raises(ValueError, match="needs a query"):
        rerank.postprocess_nodes(candidates)


def test_construction_from_a_path_serialisation_and_errors(tiny_vl_path, vl_reranker):
    rerank = Qwen3VLRerank(str(tiny_vl_path), top_n=1, instruction="Find the chart.",
                           reranker_kwargs={"device": "cpu"})
    data = rerank.to_dict()
    assert data["class_name"] == Qwen3VLRerank.class_name() == "Qwen3VLRerank"
    copy = Qwen3VLRerank.from_dict(data)
    assert (copy.model, copy.top_n, copy.instruction) == (str(tiny_vl_path), 1, "Find the chart.")
    node = [NodeWithScore(node=TextNode(text="a bar chart"), score=0.1)]
    assert copy.postprocess_nodes(node, query_str="chart")[0].score == pytest.approx(
        float(vl_reranker.score("chart", ["a bar chart"], instruction="Find the chart.")[0]), abs=1e-6)
    with pytest.raises(ValueError, match="either reranker"):
        Qwen3VLRerank(reranker=vl_reranker, reranker_kwargs={"device": "cpu"})
    with pytest.raises(ValueError, match="top_n"):
        Qwen3VLRerank(reranker=vl_reranker, top_n=-1)
    assert np.isfinite(copy.postprocess_nodes(node, query_str="x")[0].score)


def test_pipeline_stamps_the_space_and_rerank_refuses_mixed_results(vl_embedder, vl_reranker):
    from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

    from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY, EmbeddingSpaceMismatch, space_label
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding, Qwen3VLRerank

    embedding = Qwen3VLEmbedding(embedder=vl_embedder)
    nodes = embedding([TextNode(text="alpha"), TextNode(text="beta")])
    label = nodes[0].metadata[SPACE_METADATA_KEY]
    assert label == space_label(vl_embedder.identity) and nodes[1].metadata[SPACE_METADATA_KEY] == label
    assert SPACE_METADATA_KEY not in nodes[0].get_content(metadata_mode=MetadataMode.EMBED)
    assert SPACE_METADATA_KEY not in nodes[0].get_content(metadata_mode=MetadataMode.LLM)
    other = TextNode(text="gamma", metadata={SPACE_METADATA_KEY: "qwen3-embedding-8b|qwen3-embedding|4096"})
    rerank = Qwen3VLRerank(reranker=vl_reranker)
    hits = [NodeWithScore(node=n, score=0.5) for n in [*nodes, other]]
    with pytest.raises(EmbeddingSpaceMismatch, match="different vector spaces"):
        rerank.postprocess_nodes(hits, query_bundle=QueryBundle("q"))
    assert len(rerank.postprocess_nodes(hits[:2], query_bundle=QueryBundle("q"))) == 2
