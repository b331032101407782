"""The bad-input corpus through the LlamaIndex adapters (real LlamaIndex objects, the tiny models): a bad
item at position 17 of 20, with ``embed_batch_size=8``, is an ``InputError`` naming index 17 (the caller's
index, not its position in a batch: 1); good odd items give 20 unit vectors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.schema import ImageNode, NodeWithScore, QueryBundle, TextNode  # noqa: E402

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


def _raises_at(call, index: int, reason: str) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert reason in info.value.reason, info.value
    assert info.value.index == index, f"reported {info.value.index}, the caller's index is {index}"


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
