"""Qwen3VLTwoStageRetriever (LangChain): text and image documents in one Qdrant collection (embedded mode),
text and image queries, then Qwen3VLRerank (also inside ContextualCompressionRetriever); another
embedder's space is refused."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from langchain_classic.retrievers import ContextualCompressionRetriever  # noqa: E402
from langchain_core.documents import Document  # noqa: E402

from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY, EmbeddingSpaceMismatch, space_label  # noqa: E402
from qwen3_vl_rag.integrations.langchain import (  # noqa: E402
    Qwen3VLEmbeddings,
    Qwen3VLRerank,
    Qwen3VLTwoStageRetriever,
)

from ...conftest import random_image  # noqa: E402

TEXTS = [
    "Solar panels convert sunlight into electricity.",
    "The eastern region led revenue growth this quarter.",
    "Hiking above the tree line demands preparation.",
    "Batteries store solar power for the night.",
]


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lc-retriever")
    paths = []
    for seed in range(2):
        path = folder / f"chart{seed}.png"
        random_image(10 + seed, size=(96, 64)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def documents(image_paths):
    texts = [Document(page_content=t, id=f"doc-{i}", metadata={"kind": "text"}) for i, t in enumerate(TEXTS)]
    images = [Document(page_content="" if i == 0 else "a chart", id=f"img-{i}",
                       metadata={"kind": "image", "image_path": p}) for i, p in enumerate(image_paths)]
    return texts + images


def _item(document):
    if document.metadata.get("image_path"):
        image = {"image": document.metadata["image_path"]}
        return {**image, "text": document.page_content} if document.page_content else image
    return document.page_content


@pytest.mark.parametrize("image_query", [False, True])
def test_text_and_image_documents_one_collection_then_rerank(vl_embedder, vl_reranker, documents, image_paths,
                                                             image_query):
    retriever = Qwen3VLTwoStageRetriever.from_documents(documents, Qwen3VLEmbeddings(embedder=vl_embedder), k=4)
    query = {"image": image_paths[0]} if image_query else "how is solar power stored"
    results = retriever.invoke(query)

    vectors = vl_embedder.embed_documents([_item(d) for d in documents])
    scores = vectors @ vl_embedder.embed_queries([query])[0]
    order = np.argsort(-scores)[:4]
    assert [d.id for d in results] == [documents[i].id for i in order]
    np.testing.assert_allclose([d.metadata["retrieval_score"] for d in results], scores[order], atol=1e-3)
    by_id = {d.id: d for d in documents}
    for document in results:
        assert document.page_content == by_id[document.id].page_content
        assert document.metadata["kind"] == by_id[document.id].metadata["kind"]
        assert document.metadata[SPACE_METADATA_KEY] == space_label(vl_embedder.identity)

    reranked = Qwen3VLRerank(reranker=vl_reranker, top_n=2).compress_documents(results, query)
    expected = vl_reranker.rerank(query, [_item(d) for d in results], top_n=2)
    assert [(d.id, d.metadata["relevance_score"]) for d in reranked] == [
        (results[i].id, pytest.approx(s, abs=1e-6)) for i, s in expected]


def test_inside_contextual_compression_retriever(vl_embedder, vl_reranker, documents):
    base = Qwen3VLTwoStageRetriever.from_documents(documents, vl_embedder, k=5)
    pipeline = ContextualCompressionRetriever(base_compressor=Qwen3VLRerank(reranker=vl_reranker, top_n=2),
                                              base_retriever=base)
    query = "solar batteries"
    candidates = base.invoke(query)
    result = pipeline.invoke(query)
    expected = vl_reranker.rerank(query, [_item(d) for d in candidates], top_n=2)
    assert [d.id for d in result] == [candidates[i].id for i, _ in expected]


def test_another_embedders_space_is_refused(vl_embedder, text_embedder, documents, tmp_path):
    path = str(tmp_path / "qdrant")
    first = Qwen3VLTwoStageRetriever.from_documents(documents, vl_embedder, path)
    first.index.close()
    with pytest.raises(EmbeddingSpaceMismatch, match="qwen3-embedding"):
        Qwen3VLTwoStageRetriever.from_documents(documents[:2], text_embedder, path)
    with pytest.raises(ValueError, match="without dimensions"):
        Qwen3VLTwoStageRetriever.from_documents(documents, Qwen3VLEmbeddings(embedder=vl_embedder, dimensions=32))
    with pytest.raises(ValueError, match="float32 vectors.*precision="):  # float16 would be lost silently
        Qwen3VLTwoStageRetriever.from_documents(documents, Qwen3VLEmbeddings(embedder=vl_embedder, precision="float16"))


def test_ids_filters_and_argument_checks(vl_embedder, documents):
    from qdrant_client import models

    retriever = Qwen3VLTwoStageRetriever.from_documents(documents, vl_embedder, k=10)
    no_id = Document(page_content="no id yet")
    (new_id,) = retriever.add_documents([no_id])
    assert len(retriever.index) == len(documents) + 1 and new_id in {d.id for d in retriever.invoke("no id yet")}
    retriever.query_filter = models.Filter(must=[models.FieldCondition(
        key="metadata.kind", match=models.MatchValue(value="image"))])
    assert {d.metadata["kind"] for d in retriever.invoke("a chart")} == {"image"}
    with pytest.raises(ValueError, match="candidates"):
        Qwen3VLTwoStageRetriever(index=retriever.index, k=5, candidates=2)
    with pytest.raises(ValueError, match="TwoStageIndex"):
        Qwen3VLTwoStageRetriever(index=object())
    with pytest.raises(ValueError, match="empty"):
        retriever.invoke("  ")
