"""PDF page items through the remote backends (a local fault server stands in for vLLM / paid APIs): a page
is sent as its rendered image, the exact pixels ``render_page`` shows and the local models embed."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

pytest.importorskip("httpx")
pytest.importorskip("pypdfium2")

from PIL import Image

from qwen3_vl_rag.core import InputError
from qwen3_vl_rag.core.documents import render_page
from qwen3_vl_rag.core.remote import RemoteClient, RemoteEmbedder, RemoteReranker
from qwen3_vl_rag.sample_pdfs import PageSpec, build_pdf, gradient_image

from .conftest import Reply, openai_embeddings

MAX_PIXELS = 64 * 32 * 32
PDF = build_pdf([PageSpec(lines=["Quarterly report"]), PageSpec(lines=["Chart"], image=gradient_image(seed=2))])


def _sent_image(part):
    assert part["type"] == "image_url"
    uri = part["image_url"]["url"]
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def _client(server):
    return RemoteClient(server.base_url, api_key_env=None, backoff_base=0.01, max_retries=1)


def test_a_page_is_sent_as_its_rendered_image(fault_server):
    fault_server.script("/v1/embeddings", openai_embeddings())
    embedder = RemoteEmbedder("m", fault_server.base_url, client=_client(fault_server), protocol="vllm-chat",
                              max_pixels=MAX_PIXELS)
    embedder.embed([{"pdf": PDF, "page": 2, "text": "chart"}])
    _, user = fault_server.requests[0].body["messages"]
    assert [p["type"] for p in user["content"]] == ["image_url", "text"]
    sent = _sent_image(user["content"][0])
    assert np.array_equal(np.asarray(sent), np.asarray(render_page(PDF, 2, max_pixels=MAX_PIXELS)))


def test_the_remote_reranker_sends_a_page_document_as_its_image(fault_server):
    def handle(seen):
        documents = seen.body["documents"]
        return Reply(200, {"results": [{"index": i, "relevance_score": 0.5} for i in range(len(documents))]})

    fault_server.script("/v1/rerank", handle)
    reranker = RemoteReranker("rr", fault_server.base_url, client=_client(fault_server), max_pixels=MAX_PIXELS)
    reranker.score("revenue", [{"pdf": PDF, "page": 1}])
    (document,) = fault_server.requests[0].body["documents"]
    sent = _sent_image(document["content"][0])
    assert np.array_equal(np.asarray(sent), np.asarray(render_page(PDF, 1, max_pixels=MAX_PIXELS)))


def test_a_bad_page_fails_before_any_request(fault_server):
    fault_server.script("/v1/embeddings", openai_embeddings())
    embedder = RemoteEmbedder("m", fault_server.base_url, client=_client(fault_server), protocol="vllm-chat")
    secret = build_pdf([PageSpec(lines=["x"])], password="pw")
    with pytest.raises(InputError) as caught:
        embedder.embed(["fine", {"pdf": PDF, "page": 1}, {"pdf": secret, "page": 1}])
    assert caught.value.index == 2 and "encrypted" in caught.value.reason and "page 1" in caught.value.reason
    with pytest.raises(InputError) as caught:
        embedder.embed([{"pdf": PDF, "page": 3}])
    assert caught.value.index == 0 and "2 page(s)" in caught.value.reason
    assert fault_server.requests == []
