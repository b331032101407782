"""The bad-input corpus through the LangChain adapters (real LangChain objects, the tiny models): a bad item
at position 17 of 20 is an ``InputError`` naming index 17 (the caller's index) and the reason, before any
forward pass; good odd items give 20 unit vectors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("langchain_core")

from langchain_core.documents import Document  # noqa: E402

from qwen3_vl_rag.core import InputError  # noqa: E402

from ...conftest import random_image  # noqa: E402
from ...core.adversarial import ForwardCounter, bomb_png, gray16, png_bytes  # noqa: E402

N, BAD = 20, 17


@pytest.fixture(scope="module")
def embeddings(vl_embedder):
    from qwen3_vl_rag.integrations.langchain import Qwen3VLEmbeddings

    return Qwen3VLEmbeddings(embedder=vl_embedder)


def _raises_at(call, model, index: int, reason: str) -> None:
    with ForwardCounter(model) as forwards:
        with pytest.raises(InputError) as info:
            call()
    assert reason in info.value.reason, info.value
    assert info.value.index == index, f"reported {info.value.index}, the caller's index is {index}"
    assert forwards.calls == 0


def _texts() -> list[str]:
    return [f"text number {i}" for i in range(N)]


def test_embed_documents_surrogate(embeddings, vl_embedder):
    texts = _texts()
    texts[BAD] = "bad \ud800"
    _raises_at(lambda: embeddings.embed_documents(texts), vl_embedder, BAD, "not valid Unicode")


def test_aembed_documents_surrogate(embeddings, vl_embedder):
    import asyncio

    texts = _texts()
    texts[BAD] = "bad \udc00"
    _raises_at(lambda: asyncio.run(embeddings.aembed_documents(texts)), vl_embedder, BAD, "not valid Unicode")


@pytest.mark.parametrize("bad, reason", [("", "empty string"), ("/no/such/file.png", "file not found"),
                                         ("data:image/png;base64,", "base64")],
                         ids=["empty", "missing", "empty-data-uri"])
def test_embed_image(embeddings, vl_embedder, tmp_path, bad, reason):
    path = tmp_path / "ok.png"
    random_image(1).save(path)
    uris = [str(path)] * N
    uris[BAD] = bad
    _raises_at(lambda: embeddings.embed_image(uris), vl_embedder, BAD, reason)


def test_embed_video_frames_of_different_sizes(embeddings, vl_embedder):
    videos = [[random_image(i, size=(64, 48)), random_image(i + 1, size=(64, 48))] for i in range(4)]
    videos[3] = [random_image(1, size=(64, 48)), random_image(2, size=(48, 64))]  # 4 videos: each costs 64 frames
    _raises_at(lambda: embeddings.embed_video(videos), vl_embedder, 3, "differ in size")


@pytest.mark.parametrize("bad, reason", [(bomb_png(12000, 12000, palette=True), "decoding limit"),
                                         ({"text": "x", "fps": 0}, "'fps'"), (None, "got NoneType")],
                         ids=["bomb", "fps-zero", "none"])
def test_embed_multimodal(embeddings, vl_embedder, bad, reason):
    items = _texts()
    items[BAD] = bad
    _raises_at(lambda: embeddings.embed_multimodal(items), vl_embedder, BAD, reason)


def test_odd_but_valid_items_give_unit_vectors(embeddings):
    items = _texts()
    items[3], items[9], items[BAD] = gray16(), {"image": png_bytes(random_image(4, mode="RGBA"))}, ""
    vectors = np.asarray(embeddings.embed_multimodal(items))
    assert vectors.shape[0] == N and np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_compress_documents_names_the_document(vl_reranker):
    from qwen3_vl_rag.integrations.langchain import Qwen3VLRerank

    rerank = Qwen3VLRerank(reranker=vl_reranker, top_n=3)
    documents = [Document(page_content=t) for t in _texts()[:12]]
    documents[9] = Document(page_content="bad \udfff")
    _raises_at(lambda: rerank.compress_documents(documents, "query"), vl_reranker, 9, "not valid Unicode")


def test_a_vector_store_call_is_checked_whole(embeddings, vl_embedder):
    """A store hands the adapter its texts in one call, which reaches the core in one call: the bad text costs no
    forward pass, sync and async (the LlamaIndex adapter, which batches, checks its whole call first too)."""
    import asyncio

    from langchain_core.vectorstores import InMemoryVectorStore

    texts = _texts()
    texts[BAD] = "bad \ud800 text"
    store = InMemoryVectorStore(embedding=embeddings)
    _raises_at(lambda: store.add_texts(texts), vl_embedder, BAD, "not valid Unicode")
    _raises_at(lambda: asyncio.run(store.aadd_texts(texts)), vl_embedder, BAD, "not valid Unicode")
    assert store.store == {}
