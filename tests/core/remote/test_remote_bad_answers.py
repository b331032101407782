"""The bad-answer corpus (bad_answer_corpus.py) against a real local HTTP server (127.0.0.1), on the sync
and the async path: each malformed answer gives correct results or a RemoteError that says what is wrong
(naming the item when one item is at fault), never a raw httpx / json / numpy error, never a secret."""

from __future__ import annotations

import asyncio
import json
import logging

import numpy as np
import pytest

pytest.importorskip("httpx")

from qwen3_vl_rag.core.remote import RemoteClient, RemoteEmbedder, RemoteError, RemoteReranker, RemoteResponseError

from .bad_answer_corpus import (
    EMBED_CASES,
    ENCODERS,
    GOOD_SCORES,
    GOOD_VECTORS,
    INPUTS,
    MAX_RESPONSE_BYTES,
    RERANK_CASES,
    SECRET,
    WIDTH,
    Answer,
    Ctx,
    _encoded,
    advertised_encodings,
    embeddings,
    encoding_cases,
    results,
    unit,
)
from .conftest import FaultServer, Reply

ENCODINGS = advertised_encodings()
ALL_EMBED_CASES = encoding_cases(ENCODINGS) + EMBED_CASES


def test_the_corpus_covers_every_encoding_the_client_advertises():
    assert {"gzip", "deflate"} <= set(ENCODINGS)
    assert set(ENCODINGS) <= set(ENCODERS), f"no encoder for {set(ENCODINGS) - set(ENCODERS)}"
    ids = [c.id for c in ALL_EMBED_CASES] + [f"rerank-{c.id}" for c in RERANK_CASES]
    assert len(ids) == len(set(ids))


@pytest.fixture
def servers():
    main, other = FaultServer(), FaultServer()
    yield main, other
    main.close()
    other.close()


def _client(server: FaultServer) -> RemoteClient:
    return RemoteClient(server.base_url, api_key=SECRET, max_retries=0, timeout=5,
                        max_response_bytes=MAX_RESPONSE_BYTES)


def _run(call, mode: str):
    if mode == "sync":
        return call(False)
    return asyncio.run(call(True))


def _check(case: Answer, call, model, main: FaultServer, other: FaultServer, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        if case.expect is None:
            result = call()
            assert case.check is not None
            case.check(result, model)
        else:
            with pytest.raises(RemoteError) as info:
                call()
            error = info.value
            assert isinstance(error, case.expect), f"{type(error).__name__}: {error}"
            assert case.match in str(error), str(error)
            if case.index is not None:
                assert isinstance(error, RemoteResponseError) and error.index == case.index, str(error)
            for text in (str(error), repr(error), error.server_message, error.endpoint):
                assert SECRET not in text and SECRET[:-4] not in text and SECRET[-8:] not in text
    assert SECRET not in caplog.text
    assert len(main.requests) == 1, "one request: nothing retried (max_retries=0), no redirect followed"
    assert other.requests == []
    assert model.usage.prompt_tokens >= 0 and model.usage.total_tokens >= 0


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", ALL_EMBED_CASES, ids=lambda c: c.id)
def test_embedder_bad_answer(case, mode, servers, caplog):
    main, other = servers
    main.script("/v1/embeddings", lambda seen: case.reply(Ctx(other)))
    model = RemoteEmbedder("corpus-model", main.base_url, protocol="openai", native_dimensions=WIDTH,
                           client=_client(main))

    def call(is_async: bool):
        return model.aembed(INPUTS) if is_async else model.embed(INPUTS)

    _check(case, lambda: _run(call, mode), model, main, other, caplog)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", RERANK_CASES, ids=lambda c: c.id)
def test_reranker_bad_answer(case, mode, servers, caplog):
    main, other = servers
    main.script("/v1/rerank", lambda seen: case.reply(Ctx(other)))
    model = RemoteReranker("corpus-reranker", main.base_url, client=_client(main))
    documents = ["one", "two", "three"]

    def call(is_async: bool):
        return model.ascore("q", documents) if is_async else model.score("q", documents)

    _check(case, lambda: _run(call, mode), model, main, other, caplog)


def test_the_model_size_never_changes_after_a_wrong_sized_answer(fault_server):
    """Issue 23 item 7: a server answering 8-d vectors for a model it first served at 16-d is refused, and
    ``identity`` keeps 16 (before, the second answer was accepted and the identity became 8-d)."""
    widths = iter([16, 8])

    def handler(seen):
        width = next(widths)
        return Reply(200, {"data": [{"index": 0, "embedding": [1.0] * width}]})

    fault_server.script("/v1/embeddings", handler)
    model = RemoteEmbedder("unknown-size", fault_server.base_url, protocol="openai", api_key_env=None, max_retries=0)
    assert model.embed(["a"]).shape == (1, 16)
    with pytest.raises(RemoteResponseError, match="vector of 8 values, expected 16") as info:
        model.embed(["b"])
    assert info.value.index == 0
    assert model.dimension == 16 and model.identity.dimension == 16


def test_a_known_model_refuses_vectors_of_another_size(fault_server):
    """Issue 23 item 7: an 8-d answer for qwen3-embedding-0.6b (1024-d) names the item."""
    fault_server.script("/v1/embeddings", Reply(200, {"data": [{"index": i, "embedding": [1.0] * 8}
                                                               for i in range(2)]}))
    model = RemoteEmbedder("qwen/qwen3-embedding-0.6b", fault_server.base_url, protocol="openai", api_key_env=None,
                           max_retries=0)
    with pytest.raises(RemoteResponseError, match="item 0: the server sent a vector of 8 values, expected 1024"):
        model.embed(["a", "b"])
    assert model.identity.dimension == 1024


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_compressed_answers_give_the_same_vectors_and_scores(fault_server, encoding, mode):
    """Issue 23 item 8: every sync embed and score failed with a raw httpx.DecodingError when the answer was
    compressed; both paths must decode each encoding the client advertises."""
    fault_server.script("/v1/embeddings", lambda seen: _encoded(encoding, json.dumps(embeddings()).encode()))
    fault_server.script("/v1/rerank", lambda seen: _encoded(encoding, json.dumps(results(GOOD_SCORES)).encode()))
    embedder = RemoteEmbedder("m", fault_server.base_url, protocol="openai", native_dimensions=WIDTH, api_key_env=None)
    reranker = RemoteReranker("r", fault_server.base_url, api_key_env=None)
    if mode == "sync":
        vectors, scores = embedder.embed(INPUTS), reranker.score("q", ["a", "b", "c"])
    else:
        async def both():
            return await embedder.aembed(INPUTS), await reranker.ascore("q", ["a", "b", "c"])
        vectors, scores = asyncio.run(both())
    np.testing.assert_allclose(vectors, unit(GOOD_VECTORS), atol=1e-6)
    np.testing.assert_allclose(scores, GOOD_SCORES, atol=1e-6)
    assert all(encoding in r.headers["accept-encoding"] for r in fault_server.requests)
