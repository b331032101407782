"""Texts and images in one Chroma collection (in process), end to end with LangChain: Chroma's own
add_images and add_documents, the add_images helper for any VectorStore, retrieval, and reranking where the
reranker scores the stored image itself (issue 15 #2)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

pytest.importorskip("langchain_chroma")

import chromadb  # noqa: E402
from langchain_chroma import Chroma  # noqa: E402
from langchain_classic.retrievers import ContextualCompressionRetriever  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402

from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY  # noqa: E402
from qwen3_vl_rag.integrations.langchain import Qwen3VLEmbeddings, Qwen3VLRerank  # noqa: E402

from ...conftest import random_image  # noqa: E402

TEXTS = ["Mountains rise above the valley at dawn.", "Quarterly revenue grew by twelve percent.",
         "Solar panels turn sunlight into electricity."]
QUERY = "a mountain at sunrise"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("chroma-images")
    paths = []
    for seed in range(3):
        path = root / f"photo{seed}.png"
        random_image(seed, size=(64 + 16 * seed, 64)).save(path)
        paths.append(str(path))
    return paths


def chroma(name, embeddings):
    client = chromadb.EphemeralClient(settings=chromadb.config.Settings(anonymized_telemetry=False))
    return Chroma(collection_name=name, embedding_function=embeddings, client=client)


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def test_reranker_scores_a_chroma_image_as_the_image(vl_embedder, vl_reranker, images):
    """Issue 15 #2: Chroma.add_images stores the image as base64 in page_content, no path in the metadata."""
    store = chroma("rerank_images", Qwen3VLEmbeddings(embedder=vl_embedder))
    store.add_images(uris=images, metadatas=[{"kind": "image"}] * 3)
    found = store.similarity_search(QUERY, k=3)
    assert {d.page_content for d in found} == {b64(p) for p in images}
    ranked = Qwen3VLRerank(reranker=vl_reranker).compress_documents(found, QUERY)
    expected = {b64(p): float(s) for p, s in zip(images, vl_reranker.score(QUERY, [{"image": p} for p in images]))}
    for document in ranked:
        assert document.metadata["relevance_score"] == pytest.approx(expected[document.page_content], abs=1e-5)
    as_text = vl_reranker.score(QUERY, [d.page_content for d in found])
    assert not np.allclose(sorted(as_text), sorted(expected.values()), atol=1e-4)


def test_chroma_texts_and_images_retrieved_and_reranked(vl_embedder, vl_reranker, images):
    from qwen3_vl_rag.integrations.langchain import add_documents

    embeddings = Qwen3VLEmbeddings(embedder=vl_embedder)
    store = chroma("mixed", embeddings)
    image_ids = store.add_images(uris=images, metadatas=[{"source": p, "image_path": p} for p in images])
    text_ids = add_documents(store, [Document(page_content=t, metadata={"source": f"t{i}"})
                                     for i, t in enumerate(TEXTS)], ids=[f"t{i}" for i in range(3)])
    assert text_ids == ["t0", "t1", "t2"]

    # Stored vectors: images as images (Chroma calls embed_image), texts as documents.
    got = store.get(ids=image_ids + text_ids, include=["embeddings"])
    by_id = dict(zip(got["ids"], np.asarray(got["embeddings"])))
    np.testing.assert_allclose([by_id[i] for i in image_ids],
                               vl_embedder.embed_documents([{"image": p} for p in images]), atol=1e-5)
    np.testing.assert_allclose([by_id[i] for i in text_ids], vl_embedder.embed_documents(TEXTS), atol=1e-5)

    # A text query retrieves both kinds; an image query finds its own image first.
    hits = store.as_retriever(search_kwargs={"k": 6}).invoke(QUERY)
    assert {d.metadata["source"] for d in hits} == {*images, "t0", "t1", "t2"}
    (first,) = store.similarity_search_by_vector(embeddings.embed_image(uris=[images[1]])[0], k=1)
    assert first.metadata["source"] == images[1]

    retriever = ContextualCompressionRetriever(base_compressor=Qwen3VLRerank(reranker=vl_reranker, top_n=6),
                                               base_retriever=store.as_retriever(search_kwargs={"k": 6}))
    ranked = retriever.invoke(QUERY)
    scores = [d.metadata["relevance_score"] for d in ranked]
    assert scores == sorted(scores, reverse=True) and len(ranked) == 6
    for document in ranked:
        source = document.metadata["source"]
        item = {"image": source} if source in images else TEXTS[int(source[1:])]
        assert document.metadata["relevance_score"] == pytest.approx(float(vl_reranker.score(QUERY, [item])[0]),
                                                                     abs=1e-5)
        assert SPACE_METADATA_KEY in document.metadata or source in images


@pytest.mark.parametrize("make_store", ["memory", "chroma"])
def test_add_images_helper_works_for_any_store(make_store, vl_embedder, vl_reranker, images):
    from qwen3_vl_rag.integrations.langchain import add_documents, add_images

    embeddings = Qwen3VLEmbeddings(embedder=vl_embedder, dimensions=32)
    store = InMemoryVectorStore(embeddings) if make_store == "memory" else chroma("helper", embeddings)
    ids = add_images(store, images[:2] + [random_image(7)], [{"n": 0}, {"n": 1}, {"n": 2}],
                     ids=["a", "b", "c"])
    add_documents(store, [Document(page_content=t) for t in TEXTS])
    assert ids == ["a", "b", "c"]
    hits = store.similarity_search_by_vector(embeddings.embed_image(uris=[images[0]])[0], k=7)
    assert len(hits) == 6 and hits[0].metadata["image_path"] == images[0]
    space = embeddings.space_metadata()[SPACE_METADATA_KEY]
    assert all(d.metadata[SPACE_METADATA_KEY] == space for d in hits)
    assert embeddings.dimension == 32 and len(embeddings.embed_query("x")) == 32

    ranked = Qwen3VLRerank(reranker=vl_reranker).compress_documents(hits, QUERY)
    pil = next(d for d in ranked if d.metadata.get("n") == 2)  # a PIL image, no path: scored from page_content
    assert pil.metadata["relevance_score"] == pytest.approx(
        float(vl_reranker.score(QUERY, [{"image": pil.page_content}])[0]), abs=1e-6)
    with pytest.raises(TypeError, match="Qwen3VLEmbeddings"):
        add_images(InMemoryVectorStore(object.__new__(type("E", (), {}))), images)
