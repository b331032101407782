"""The bad-input corpus through the LlamaIndex adapters (real LlamaIndex objects, the tiny models): a bad
item at position 17 of 20, with ``embed_batch_size=8``, is an ``InputError`` naming index 17 (the caller's
index, not its position in a batch: 1) before any forward pass (the whole call is checked before its first
batch); good odd items give 20 unit vectors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import VectorStoreIndex  # noqa: E402
from llama_index.core.ingestion import IngestionPipeline  # noqa: E402
from llama_index.core.schema import ImageDocument, ImageNode, NodeWithScore, QueryBundle, TextNode  # noqa: E402

from qwen3_vl_rag.core import InputError  # noqa: E402

from ...conftest import random_image  # noqa: E402
from ...core.adversarial import ForwardCounter, bomb_png, gray16  # noqa: E402

N, BAD = 20, 17


@pytest.fixture(scope="module")
def embed_model(vl_embedder):
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding

    return Qwen3VLEmbedding(embedder=vl_embedder, embed_batch_size=8)


def _texts() -> list[str]:
    return [f"text number {i}" for i in range(N)]


def _raises_at(call, index: int, reason: str, model=None) -> None:
    with ForwardCounter(model or _EMBEDDER[0]) as forwards:
        with pytest.raises(InputError) as info:
            call()
    assert reason in info.value.reason, info.value
    assert info.value.index == index, f"reported {info.value.index}, the caller's index is {index}"
    assert forwards.calls == 0, "the whole call is checked before its first batch"


_EMBEDDER: list = []


@pytest.fixture(autouse=True)
def _core_embedder(vl_embedder):
    _EMBEDDER[:] = [vl_embedder]


def _unit(vectors, n: int) -> None:
    vectors = np.asarray(vectors)
    assert vectors.shape[0] == n and np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_text_batch_surrogate(embed_model, vl_embedder):
    texts = _texts()
    texts[BAD] = "bad \ud800 text"
    _raises_at(lambda: embed_model.get_text_embedding_batch(texts), BAD, "not valid Unicode")


def test_image_batch_missing_file(embed_model, vl_embedder, tmp_path):
    images = [random_image(i % 3) for i in range(N)]
    images[BAD] = str(tmp_path / "missing.png")
    _raises_at(lambda: embed_model.get_image_embedding_batch(images), BAD, "file not found")


@pytest.mark.parametrize("bad, reason", [(bomb_png(20000, 20000), "decoding limit"), ({"image": ""}, "empty string"),
                                         ({"video": ""}, "empty string"), ({"text": 3}, "'text' must be")],
                         ids=["bomb", "empty-image", "empty-video", "text-int"])
def test_multimodal_batch(embed_model, vl_embedder, bad, reason):
    items = _texts()
    items[BAD] = bad
    _raises_at(lambda: embed_model.get_multimodal_embeddings(items), BAD, reason)


def test_pipeline_step_names_the_node(embed_model, vl_embedder, tmp_path):
    nodes = [TextNode(text=t) for t in _texts()]
    nodes[BAD] = ImageNode(image_path=str(tmp_path / "missing.png"), text="caption")
    _raises_at(lambda: embed_model(nodes), BAD, "file not found")


def test_odd_but_valid_items_give_unit_vectors(embed_model):
    items = _texts()
    items[5], items[17], items[BAD] = gray16(), "", "emoji 😀 and NUL \x00"
    _unit(embed_model.get_multimodal_embeddings(items), N)


def test_rerank_names_the_node(vl_reranker, tmp_path):
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLRerank

    rerank = Qwen3VLRerank(reranker=vl_reranker)
    nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in _texts()[:12]]
    nodes[9] = NodeWithScore(node=TextNode(text="bad \udfff"), score=0.0)
    with ForwardCounter(vl_reranker) as forwards:
        _raises_at(lambda: rerank.postprocess_nodes(nodes, QueryBundle("query")), 9, "not valid Unicode")
    assert forwards.calls == 0


# -- the whole call is checked before its first batch, in every LlamaIndex idiom (issue 23, item 13) -----------
@pytest.fixture(scope="module")
def small_batches(vl_embedder):
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding

    return Qwen3VLEmbedding(embedder=vl_embedder, embed_batch_size=2)


def test_bad_item_at_position_3_with_batches_of_2(small_batches, tmp_path):
    _raises_at(lambda: small_batches.get_text_embedding_batch(["a", "b", "c", "bad \ud800"]), 3, "not valid Unicode")
    items = ["a", "b", "c", {"image": str(tmp_path / "missing.png")}]
    _raises_at(lambda: small_batches.get_multimodal_embeddings(items), 3, "file not found")
    _raises_at(lambda: small_batches.get_image_embedding_batch([random_image(0)] * 3 + [""]), 3, "empty string")


def test_async_batches_are_checked_before_the_first(small_batches, tmp_path):
    import asyncio

    _raises_at(lambda: asyncio.run(small_batches.aget_text_embedding_batch(["a", "b", "c", "d", "e \udfff"])), 4,
               "not valid Unicode")
    items = ["a", "b", "c", {"image": str(tmp_path / "missing.png")}]
    _raises_at(lambda: asyncio.run(small_batches.aget_multimodal_embeddings(items)), 3, "file not found")


def _nodes(tmp_path):
    nodes: list = [TextNode(text=f"chunk {i}") for i in range(5)]
    nodes.insert(1, ImageNode(image=None, image_path=_png(tmp_path), text="a picture"))
    nodes[4] = ImageNode(image_path=str(tmp_path / "missing.png"), text="gone")
    return nodes


def _png(tmp_path):
    path = tmp_path / "ok.png"
    random_image(2).save(path)
    return str(path)


def test_ingestion_pipeline_and_vector_store_index(small_batches, tmp_path):
    """Text and image nodes in one step (two core calls, several batches): the bad node (4) costs no pass."""
    import asyncio

    pipeline = IngestionPipeline(transformations=[small_batches])
    _raises_at(lambda: pipeline.run(nodes=_nodes(tmp_path)), 4, "file not found")
    _raises_at(lambda: asyncio.run(pipeline.arun(nodes=_nodes(tmp_path))), 4, "file not found")
    texts = [TextNode(text=f"chunk {i}") for i in range(6)]
    texts[5] = TextNode(text="bad \ud800")
    _raises_at(lambda: VectorStoreIndex(texts, embed_model=small_batches), 5, "not valid Unicode")
    documents = [ImageDocument(image_path=_png(tmp_path), text=f"picture {i}") for i in range(3)]
    thin = tmp_path / "thin.png"
    random_image(0, size=(804, 4)).save(thin)
    documents.append(ImageDocument(image_path=str(thin), text="a thin strip"))
    _raises_at(lambda: VectorStoreIndex.from_documents(documents, embed_model=small_batches), 3, "aspect ratio")
    good = _nodes(tmp_path)
    good[4] = TextNode(text="fine")
    assert all(n.embedding is not None for n in pipeline.run(nodes=good))


def test_a_remote_embedder_sends_no_request_before_a_bad_item():
    """The remote embedder checks the whole call too: nothing listens at its address, so a request sent for the
    first batch would be a connection error, not the bad item's ``InputError``."""
    from qwen3_vl_rag.core.remote import RemoteEmbedder
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding

    remote = RemoteEmbedder("some-model", "http://127.0.0.1:9/v1", protocol="openai", api_key_env=None,
                            max_retries=0)
    model = Qwen3VLEmbedding(embedder=remote, embed_batch_size=2)
    with pytest.raises(InputError) as info:
        model.get_text_embedding_batch(["a", "b", "c", "bad \ud800"])
    assert info.value.index == 3 and remote.usage.requests == 0
    with pytest.raises(InputError, match="protocol='openai'") as info:
        model.get_multimodal_embeddings(["a", "b", "c", "d", {"image": random_image(0)}])
    assert info.value.index == 4
