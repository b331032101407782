"""Qwen3VLRerank: the core reranker's order and scores through LangChain, multimodal documents, ids kept."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import ValidationError

from qwen3_vl_rag.integrations.langchain import Qwen3VLEmbeddings, Qwen3VLRerank

from ...conftest import random_image

TEXTS = [
    "Solar panels convert sunlight into electricity.",
    "The eastern region led revenue growth this quarter.",
    "Hiking above the tree line demands preparation.",
    "Batteries store solar power for the night.",
    "A map and water are essential on mountain routes.",
]


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("lc-rerank") / "chart.png"
    random_image(7, size=(96, 64)).save(path)
    return str(path)


@pytest.fixture
def documents():
    return [Document(page_content=t, id=f"doc-{i}", metadata={"source": f"s{i}.txt", "tags": ["a", i]})
            for i, t in enumerate(TEXTS)]


def test_contextual_compression_retriever_reorders_by_core_scores(vl_embedder, vl_reranker, documents):
    store = InMemoryVectorStore(Qwen3VLEmbeddings(embedder=vl_embedder))
    store.add_documents(documents)
    base = store.as_retriever(search_kwargs={"k": len(documents)})
    retriever = ContextualCompressionRetriever(base_compressor=Qwen3VLRerank(reranker=vl_reranker, top_n=3),
                                               base_retriever=base)
    query = "how is solar power stored"
    candidates = base.invoke(query)
    result = retriever.invoke(query)

    scores = vl_reranker.score(query, [d.page_content for d in candidates])
    expected = np.argsort(-scores, kind="stable")[:3]
    assert [d.id for d in result] == [candidates[i].id for i in expected]
    assert [d.metadata["relevance_score"] for d in result] == pytest.approx([float(scores[i]) for i in expected],
                                                                           abs=1e-6)
    by_id = {d.id: d for d in documents}
    for doc in result:
        assert type(doc.metadata["relevance_score"]) is float
        original = by_id[doc.id]
        assert doc.page_content == original.page_content
        assert {k: v for k, v in doc.metadata.items() if k != "relevance_score"} == original.metadata
    assert all("relevance_score" not in d.metadata for d in documents)  # copies, not the store's objects
    assert all("relevance_score" not in r["metadata"] for r in store.store.values())


def test_images_and_videos_reach_the_reranker(tiny_vl_path, image_path):
    # model_kwargs reach the core reranker: two frames per video keep the tiny test fast.
    reranker = Qwen3VLRerank(model_name=str(tiny_vl_path), model_kwargs={"num_frames": 2, "max_frames": 2},
                             top_n=None)
    core = reranker.client
    assert core.model_name == str(tiny_vl_path)
    frames = [image_path, image_path]
    docs = [
        Document(page_content="", id="img", metadata={"image_path": image_path}),
        Document(page_content="sales by region", id="img+text", metadata={"image": image_path}),
        Document(page_content="", id="file", metadata={"file_path": image_path}),
        Document(page_content="a clip", id="video", metadata={"video": frames}),
        Document(page_content="sales by region", id="text"),
    ]
    query = "a bar chart of sales"
    result = reranker.compress_documents(docs, query)
    assert len(result) == 5
    items = [{"image": image_path}, {"text": "sales by region", "image": image_path}, {"image": image_path},
             {"text": "a clip", "video": frames}, "sales by region"]
    expected = core.score(query, items)
    got = {d.id: d.metadata["relevance_score"] for d in result}
    assert [got[d.id] for d in docs] == pytest.approx(expected.tolist(), abs=1e-6)
    assert got["img+text"] != pytest.approx(got["text"], abs=1e-6)  # the image changed the score
    assert [d.metadata["relevance_score"] for d in result] == sorted(got.values(), reverse=True)


def test_public_rerank_returns_index_and_score(vl_reranker, documents):
    reranker = Qwen3VLRerank(reranker=vl_reranker)
    ranked = reranker.rerank(documents, "solar", top_n=None)
    expected = vl_reranker.rerank("solar", TEXTS)
    assert [(r["index"], r["relevance_score"]) for r in ranked] == [(i, pytest.approx(s, abs=1e-6))
                                                                      for i, s in expected]
    assert len(reranker.rerank(documents, "solar", top_n=2)) == 2
    assert reranker.rerank([], "solar") == []
    assert [r["index"] for r in reranker.rerank(TEXTS, "solar")] == [i for i, _ in expected]  # plain items too


def test_top_n_and_instruction(vl_reranker, documents):
    assert len(Qwen3VLRerank(reranker=vl_reranker).compress_documents(documents, "q")) == 5  # default: keep all
    assert len(Qwen3VLRerank(reranker=vl_reranker, top_n=None).compress_documents(documents, "q")) == 5
    instructed = Qwen3VLRerank(reranker=vl_reranker, top_n=None, instruction="Find hiking advice.")
    scores = {d.id: d.metadata["relevance_score"] for d in instructed.compress_documents(documents, "q")}
    expected = vl_reranker.score("q", TEXTS, instruction="Find hiking advice.")
    assert [scores[d.id] for d in documents] == pytest.approx(expected.tolist(), abs=1e-6)
    assert Qwen3VLRerank(reranker=vl_reranker).compress_documents([], "q") == []


async def test_acompress_matches_compress(vl_reranker, documents):
    reranker = Qwen3VLRerank(reranker=vl_reranker, top_n=4)
    before = copy.deepcopy(documents)
    sync = reranker.compress_documents(documents, "mountain safety")
    asynchronous = await reranker.acompress_documents(documents, "mountain safety")
    assert [(d.id, d.metadata) for d in asynchronous] == [(d.id, d.metadata) for d in sync]
    assert documents == before


def test_loads_lazily_from_a_directory(tiny_vl_path, vl_reranker, documents, tmp_path):
    reranker = Qwen3VLRerank(model_name=str(tiny_vl_path / "not-yet"), top_n=None, lazy=True)  # nothing loads
    reranker = Qwen3VLRerank(model_name=str(tiny_vl_path), top_n=None)
    scores = [d.metadata["relevance_score"] for d in reranker.compress_documents(documents, "solar")]
    assert scores == pytest.approx(sorted(vl_reranker.score("solar", TEXTS).tolist(), reverse=True), abs=1e-6)
    missing = Qwen3VLRerank(model=str(tmp_path / "nothing-here"), lazy=True)
    with pytest.raises(OSError):
        missing.compress_documents(documents, "solar")
    with pytest.raises(OSError):
        Qwen3VLRerank(model=str(tmp_path / "nothing-here"))


def test_conflicting_arguments(vl_reranker):
    with pytest.raises(ValidationError, match="not both"):
        Qwen3VLRerank(reranker=vl_reranker, model_name="Qwen/Qwen3-VL-Reranker-8B")
    with pytest.raises(ValidationError):
        Qwen3VLRerank(reranker=object())
    with pytest.raises(ValidationError):
        Qwen3VLRerank(top_k=3, lazy=True)


def test_documents_from_two_embedding_spaces_are_refused(vl_embedder, vl_reranker):
    from langchain_core.documents import Document

    from qwen3_vl_rag.core.identity import EmbeddingSpaceMismatch
    from qwen3_vl_rag.integrations.langchain import Qwen3VLEmbeddings, Qwen3VLRerank

    stamp = Qwen3VLEmbeddings(embedder=vl_embedder).space_metadata()
    ours = Document(page_content="a", metadata=dict(stamp))
    theirs = Document(page_content="b", metadata={"embedding_space": "qwen3-embedding-8b|qwen3-embedding|4096"})
    compressor = Qwen3VLRerank(reranker=vl_reranker, top_n=2)
    with pytest.raises(EmbeddingSpaceMismatch):
        compressor.compress_documents([ours, theirs], "q")
    assert len(compressor.compress_documents([ours, Document(page_content="c", metadata=dict(stamp))], "q")) == 2
