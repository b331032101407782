"""Text and image nodes in one Qdrant collection (local mode, in process), end to end: from_documents,
insert and IngestionPipeline store the pixels' vectors; text and image queries retrieve both kinds; the
reranker reorders them (issue 15 #1, #7)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_index.vector_stores.qdrant")

from llama_index.core import StorageContext, VectorStoreIndex  # noqa: E402
from llama_index.core.ingestion import IngestionPipeline  # noqa: E402
from llama_index.core.schema import ImageNode, QueryBundle, TextNode  # noqa: E402
from llama_index.vector_stores.qdrant import QdrantVectorStore  # noqa: E402
from qdrant_client import QdrantClient  # noqa: E402

from qwen3_vl_rag.integrations.llama_index import Qwen3VLRerank, Qwen3VLVectorStoreIndex, index_retriever  # noqa: E402


def qdrant_store(name: str):
    client = QdrantClient(location=":memory:")
    return client, QdrantVectorStore(client=client, collection_name=name)


def stored_vectors(client, name: str) -> dict[str, np.ndarray]:
    points, _ = client.scroll(name, limit=1000, with_vectors=True, with_payload=False)
    return {str(p.id): np.asarray(p.vector, dtype=np.float32) for p in points}


def check_collection(client, name, index, embed_model, vl_embedder, image_paths):
    vectors = stored_vectors(client, name)
    hits = index.as_retriever(similarity_top_k=len(vectors)).retrieve("a mountain at sunrise")
    assert sorted(h.node.node_id for h in hits) == sorted(vectors)  # every point, text and image (#7)
    images = [h.node for h in hits if isinstance(h.node, ImageNode)]
    texts = [h.node for h in hits if not isinstance(h.node, ImageNode)]
    assert len(images) == len(image_paths) and texts and all(isinstance(n, TextNode) for n in texts)

    # The stored vector of an image node is its image's embedding, not its metadata text's (#1).
    expected = vl_embedder.embed_documents([{"image": n.image_path} for n in images])
    np.testing.assert_allclose([vectors[n.node_id] for n in images], expected, atol=1e-5)
    as_text = vl_embedder.embed_documents([n.get_content(metadata_mode="embed") for n in images])
    assert all(float(np.dot(a, b)) < 0.999 for a, b in zip(expected, as_text))

    # An image query: its own vector retrieves it first; the reranker sees the query image and the nodes' pixels.
    target = images[1]
    image_query = QueryBundle(query_str="", image_path=target.image_path,
                              embedding=embed_model.get_image_embedding(target.image_path))
    ranked_by_vector = index.as_retriever(similarity_top_k=len(vectors)).retrieve(image_query)
    assert ranked_by_vector[0].node.node_id == target.node_id
    assert ranked_by_vector[0].score == pytest.approx(1.0, abs=1e-4)
    return hits, ranked_by_vector, image_query


def check_rerank(vl_reranker, hits, image_query):
    ranked = Qwen3VLRerank(reranker=vl_reranker).postprocess_nodes(hits, query_str="a mountain at sunrise")
    assert {type(h.node) for h in ranked} == {ImageNode, TextNode}
    by_id = {h.node.node_id: h.node for h in hits}
    for hit in ranked:  # each score is the core reranker's for that node as an image (or text)
        node = by_id[hit.node.node_id]
        document = {"image": node.image_path} if isinstance(node, ImageNode) else node.get_content("embed")
        assert hit.score == pytest.approx(float(vl_reranker.score("a mountain at sunrise", [document])[0]), abs=1e-5)
    by_image = Qwen3VLRerank(reranker=vl_reranker, top_n=2).postprocess_nodes(hits, query_bundle=image_query)
    assert len(by_image) == 2
    first = by_id[by_image[0].node.node_id]
    document = {"image": first.image_path} if isinstance(first, ImageNode) else first.get_content("embed")
    assert by_image[0].score == pytest.approx(
        float(vl_reranker.score({"image": image_query.image_path}, [document])[0]), abs=1e-5)


def test_from_documents_and_insert_into_qdrant(documents, embed_model, vl_embedder, vl_reranker, image_paths):
    client, store = qdrant_store("from_documents")
    context = StorageContext.from_defaults(vector_store=store)
    texts, images = documents[:3], documents[3:]
    index = Qwen3VLVectorStoreIndex.from_documents(texts + images[:2], storage_context=context,
                                                   embed_model=embed_model)
    index.insert(images[2])  # insert embeds the pixels too
    hits, _, image_query = check_collection(client, "from_documents", index, embed_model, vl_embedder, image_paths)
    check_rerank(vl_reranker, hits, image_query)


def test_ingestion_pipeline_into_qdrant(documents, splitter, embed_model, vl_embedder, vl_reranker, image_paths):
    client, store = qdrant_store("pipeline")
    pipeline = IngestionPipeline(transformations=[splitter, embed_model], vector_store=store)
    pipeline.run(documents=documents)
    index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
    hits, _, image_query = check_collection(client, "pipeline", index, embed_model, vl_embedder, image_paths)
    check_rerank(vl_reranker, hits, image_query)


def test_plain_index_retriever_sees_text_nodes_once_images_are_stored(documents, embed_model):
    """Issue 15 #7: a plain VectorStoreIndex over a store that keeps text restricts as_retriever() to the ids of its
    ImageNodes; index_retriever (and Qwen3VLVectorStoreIndex) search the whole collection."""
    client, store = qdrant_store("plain")
    index = VectorStoreIndex.from_documents(documents, storage_context=StorageContext.from_defaults(vector_store=store),
                                            embed_model=embed_model)
    total = len(stored_vectors(client, "plain"))
    hits = index_retriever(index, similarity_top_k=total).retrieve("quarterly revenue")
    assert len(hits) == total and {type(h.node) for h in hits} == {ImageNode, TextNode}
    query_engine_retriever = Qwen3VLVectorStoreIndex.from_vector_store(store, embed_model=embed_model)
    assert len(query_engine_retriever.as_retriever(similarity_top_k=total).retrieve("revenue")) == total
