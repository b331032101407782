"""Qwen3VLTwoStageRetriever: text and image nodes in one Qdrant collection (embedded mode), text and image
queries, then Qwen3VLRerank; another embedder's space is refused."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from llama_index.core.schema import ImageNode, MetadataMode, QueryBundle, TextNode  # noqa: E402

from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY, EmbeddingSpaceMismatch, space_label  # noqa: E402
from qwen3_vl_rag.core.retrieval import TwoStageIndex  # noqa: E402
from qwen3_vl_rag.integrations.llama_index import (  # noqa: E402
    Qwen3VLEmbedding,
    Qwen3VLRerank,
    Qwen3VLTwoStageRetriever,
)

from ...core.retrieval.test_qdrant import CountingEmbedder  # noqa: E402
from .conftest import TEXTS  # noqa: E402


@pytest.fixture
def nodes(image_paths):
    texts = [TextNode(text=t, id_=f"text-{i}", metadata={"kind": "text"}) for i, t in enumerate(TEXTS)]
    images = [ImageNode(image_path=p, id_=f"image-{i}", metadata={"kind": "image"}) for i, p in enumerate(image_paths)]
    return texts + images


def _items(nodes):
    """Text nodes as their text with metadata (MetadataMode.EMBED), image nodes without text as the image."""
    return [{"image": n.image_path} if isinstance(n, ImageNode) else n.get_content(metadata_mode=MetadataMode.EMBED)
            for n in nodes]


def _exact(vl_embedder, nodes, query, k):
    """Node ids and scores of exact full-dimension search (numpy)."""
    documents = vl_embedder.embed_documents(_items(nodes))
    scores = documents @ vl_embedder.embed_queries([query])[0]
    order = np.argsort(-scores)[:k]
    return [nodes[i].node_id for i in order], scores[order]


@pytest.mark.parametrize("query", ["solar panels and batteries", "image"])
def test_text_and_image_nodes_one_collection_then_rerank(vl_embedder, vl_reranker, embed_model, nodes, image_paths,
                                                         query):
    retriever = Qwen3VLTwoStageRetriever.from_nodes(nodes, embed_model, ":memory:", similarity_top_k=4)
    bundle = QueryBundle(query_str=query) if query != "image" else QueryBundle(query_str="", image_path=image_paths[1])
    core_query = query if query != "image" else {"image": image_paths[1]}
    results = retriever.retrieve(bundle)

    ids, scores = _exact(vl_embedder, nodes, core_query, 4)
    assert [r.node.node_id for r in results] == ids
    np.testing.assert_allclose([r.score for r in results], scores, atol=1e-3)  # full vectors stored as float16
    label = space_label(vl_embedder.identity)
    for result in results:
        original = next(n for n in nodes if n.node_id == result.node.node_id)
        assert type(result.node) is type(original) and result.node.metadata["kind"] == original.metadata["kind"]
        assert result.node.metadata[SPACE_METADATA_KEY] == label
        if isinstance(original, ImageNode):
            assert result.node.image_path == original.image_path

    reranked = Qwen3VLRerank(reranker=vl_reranker, top_n=2).postprocess_nodes(results, query_bundle=bundle)
    expected = vl_reranker.rerank(core_query, _items([r.node for r in results]), top_n=2)
    assert [(r.node.node_id, r.score) for r in reranked] == [
        (results[i].node.node_id, pytest.approx(s, abs=1e-6)) for i, s in expected]


def test_another_embedders_space_is_refused(vl_embedder, text_embedder, nodes, tmp_path):
    path = str(tmp_path / "qdrant")
    retriever = Qwen3VLTwoStageRetriever.from_nodes(nodes[:2], vl_embedder, path, index_kwargs={"collection_name": "c"})
    retriever.index.close()
    with pytest.raises(EmbeddingSpaceMismatch, match="qwen3-embedding"):
        Qwen3VLTwoStageRetriever.from_nodes(nodes[2:], text_embedder, path, index_kwargs={"collection_name": "c"})
    index = TwoStageIndex(vl_embedder, ":memory:")
    foreign = TextNode(text="x", metadata={SPACE_METADATA_KEY: "qwen3-embedding-8b|qwen3-embedding|4096"})
    with pytest.raises(EmbeddingSpaceMismatch, match="node 1"):
        Qwen3VLTwoStageRetriever(index).add_nodes([nodes[0], foreign])
    with pytest.raises(ValueError, match="without dimensions"):
        Qwen3VLTwoStageRetriever.from_nodes(nodes, Qwen3VLEmbedding(embedder=vl_embedder, dimensions=32))


def test_pipeline_embeddings_are_reused_not_recomputed(vl_embedder, embed_model, nodes):
    embed_model(nodes)  # what an IngestionPipeline step does: sets node.embedding and the space stamp
    counting = CountingEmbedder(vl_embedder)
    retriever = Qwen3VLTwoStageRetriever(TwoStageIndex(counting, ":memory:"), similarity_top_k=2)
    retriever.add_nodes(nodes + [TextNode(text="fresh text", id_="fresh")])
    assert counting.documents == 1  # only the unembedded node
    assert len(retriever.index) == len(nodes) + 1
    best = retriever.index.search_vector(np.asarray(nodes[3].embedding), k=1)[0]
    assert best.id == nodes[3].node_id and best.score == pytest.approx(1.0, abs=1e-3)


async def test_async_retrieve_matches_sync(vl_embedder, nodes):
    retriever = Qwen3VLTwoStageRetriever.from_nodes(nodes, vl_embedder, similarity_top_k=3)
    expected = [(r.node.node_id, r.score) for r in retriever.retrieve("solar power")]
    assert [(r.node.node_id, r.score) for r in await retriever.aretrieve("solar power")] == expected


def test_filters_and_argument_checks(vl_embedder, nodes):
    from qdrant_client import models

    only_images = models.Filter(must=[models.FieldCondition(key="kind", match=models.MatchValue(value="image"))])
    retriever = Qwen3VLTwoStageRetriever.from_nodes(nodes, vl_embedder, similarity_top_k=10, query_filter=only_images)
    assert {type(r.node) for r in retriever.retrieve("anything")} == {ImageNode}
    with pytest.raises(ValueError, match="candidates"):
        Qwen3VLTwoStageRetriever(retriever.index, similarity_top_k=5, candidates=2)
    with pytest.raises(ValueError, match="neither text"):
        retriever.retrieve(QueryBundle(query_str=""))
