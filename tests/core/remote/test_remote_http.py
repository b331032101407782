"""RemoteClient and RemoteEmbedder against a local fault server (127.0.0.1) that stands in for paid APIs
such as OpenRouter: retries, timeouts, bad answers, refused ``dimensions``, wrong keys, concurrency.
Every failure must be retried or reported clearly, never turned into a silent wrong count."""

from __future__ import annotations

import base64
import io
import logging
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import numpy as np
import pytest

pytest.importorskip("httpx")

from qwen3_vl_rag.core import InputError
from qwen3_vl_rag.core.media import MediaOptions, load_image
from qwen3_vl_rag.core.remote import (
    AuthenticationError,
    RemoteClient,
    RemoteEmbedder,
    RemoteError,
    RemoteResponseError,
    default_protocol,
    parse_retry_after,
)
from qwen3_vl_rag.core.vectors import truncate_and_normalize

from .conftest import Reply, fake_vector, noise_image, openai_embeddings

OK = {"data": [{"index": 0, "embedding": [0.6, 0.8]}], "usage": {"prompt_tokens": 3, "total_tokens": 3}}


def client(server, **kwargs) -> RemoteClient:
    kwargs.setdefault("api_key_env", None)
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("timeout", 2.0)
    return RemoteClient(server.base_url, **kwargs)


def embedder(server, **kwargs) -> RemoteEmbedder:
    kwargs.setdefault("api_key_env", None)
    kwargs.setdefault("protocol", "openai")
    kwargs.setdefault("native_dimensions", 8)
    c = client(server, **{k: kwargs.pop(k) for k in ("max_retries", "timeout", "max_concurrency") if k in kwargs})
    return RemoteEmbedder("test-model", server.base_url, client=c, **kwargs)


# -- retries ------------------------------------------------------------------------------------
def test_429_with_retry_after_is_retried_after_the_servers_delay(fault_server, caplog):
    limited = Reply(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "1"})
    fault_server.script("/v1/embeddings", limited, Reply(200, OK))
    start = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert client(fault_server).post("/embeddings", {"input": ["x"]}) == OK
    assert 0.9 <= time.monotonic() - start < 5  # waited what Retry-After said, not the 10 ms backoff
    assert len(fault_server.to("/v1/embeddings")) == 2
    assert any("HTTP 429" in r.getMessage() and "retrying in 1.00 s" in r.getMessage() for r in caplog.records)


def test_retry_after_as_http_date_is_honoured(fault_server):
    past = format_datetime(datetime.now(timezone.utc) - timedelta(seconds=30), usegmt=True)
    fault_server.script("/v1/embeddings", Reply(503, {}, headers={"Retry-After": past}), Reply(200, OK))
    assert client(fault_server).post("/embeddings", {}) == OK
    assert len(fault_server.requests) == 2


def test_parse_retry_after_forms():
    now = time.time()
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = format_datetime(datetime.fromtimestamp(now + 20, timezone.utc), usegmt=True)
    assert 18 <= parse_retry_after(future, now=now) <= 21
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait


def test_backoff_is_exponential_with_jitter_and_retry_after_is_capped():
    c = RemoteClient("http://127.0.0.1:9", api_key_env=None, backoff_base=1.0, backoff_max=8.0, max_retry_after=5)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        delays = {round(c._backoff(attempt, None), 6) for _ in range(30)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered, not a fixed schedule
    assert c._backoff(0, 2.5) == 2.5
    assert c._backoff(0, 600) == 5  # a hostile Retry-After cannot stall the caller forever


def test_500_then_success_is_retried(fault_server):
    fault_server.script("/v1/embeddings", Reply(500, {"error": {"message": "boom"}}), Reply(502, body=b"bad gateway"),
                        Reply(200, OK))
    assert client(fault_server).post("/embeddings", {}) == OK
    assert len(fault_server.requests) == 3


def test_attempts_are_bounded_and_the_error_says_status_endpoint_and_message(fault_server):
    fault_server.script("/v1/embeddings", Reply(503, {"error": {"message": "model is loading"}}))
    with pytest.raises(RemoteError) as info:
        client(fault_server, max_retries=2).post("/embeddings", {})
    assert len(fault_server.requests) == 3
    message = str(info.value)
    assert "HTTP 503" in message and f"{fault_server.base_url}/embeddings" in message and "model is loading" in message
    assert info.value.status == 503


@pytest.mark.parametrize("status, attempts", [(520, 2), (408, 2), (501, 1), (404, 1), (422, 1)])
def test_which_statuses_are_retried(fault_server, status, attempts):
    fault_server.script("/v1/embeddings", Reply(status, {"error": {"message": "x"}}), Reply(200, OK))
    if attempts == 2:
        assert client(fault_server).post("/embeddings", {}) == OK
    else:
        with pytest.raises(RemoteError, match=f"HTTP {status}"):
            client(fault_server).post("/embeddings", {})
    assert len(fault_server.requests) == attempts


def test_other_4xx_is_not_retried(fault_server):
    fault_server.script("/v1/embeddings", Reply(400, {"error": {"message": "prompt too long (600 > 512)"}}))
    with pytest.raises(RemoteError, match=r"HTTP 400.*prompt too long"):
        client(fault_server).post("/embeddings", {})
    assert len(fault_server.requests) == 1


def test_timeout_is_retried_then_reported(fault_server):
    fault_server.script("/v1/embeddings", Reply(200, OK, delay=1.0))
    start = time.monotonic()
    with pytest.raises(RemoteError, match=r"timed out after 0.2 s; gave up after 2 attempt"):
        client(fault_server, timeout=0.2, max_retries=1).post("/embeddings", {})
    assert len(fault_server.requests) == 2
    assert time.monotonic() - start < 3


def test_timeout_then_success(fault_server):
    fault_server.script("/v1/embeddings", Reply(200, OK, delay=1.0), Reply(200, OK))
    assert client(fault_server, timeout=0.3).post("/embeddings", {}) == OK
    assert len(fault_server.requests) == 2


def test_dropped_connection_is_retried(fault_server):
    fault_server.script("/v1/embeddings", Reply(drop=True), Reply(200, OK))
    assert client(fault_server).post("/embeddings", {}) == OK
    assert len(fault_server.requests) == 2


def test_connection_refused_is_reported_after_bounded_attempts():
    with pytest.raises(RemoteError, match=r"POST http://127.0.0.1:9/v1/embeddings: connection failed .*3 attempt"):
        RemoteClient("http://127.0.0.1:9/v1", api_key_env=None, max_retries=2, backoff_base=0.01).post(
            "/embeddings", {})


def test_wrong_api_key_is_an_authentication_error_and_not_retried(fault_server):
    fault_server.script("/v1/embeddings", Reply(401, {"error": {"message": "User not found.", "code": 401}}))
    with pytest.raises(AuthenticationError) as info:
        client(fault_server, api_key="sk-wrong").post("/embeddings", {})
    message = str(info.value)
    assert "authentication failed (HTTP 401)" in message and "User not found." in message
    assert f"{fault_server.base_url}/embeddings" in message and "api_key" in message
    assert len(fault_server.requests) == 1


def test_missing_key_says_which_variable_to_set(fault_server, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    fault_server.script("/v1/embeddings", Reply(401, {"error": {"message": "No auth credentials found"}}))
    with pytest.raises(AuthenticationError, match=r"no API key was sent; check the key in \$OPENROUTER_API_KEY"):
        RemoteClient(fault_server.base_url).post("/embeddings", {})
    assert "authorization" not in fault_server.requests[0].headers


# -- bad answers --------------------------------------------------------------------------------
def test_malformed_json_is_reported_not_retried(fault_server):
    fault_server.script("/v1/embeddings", Reply(200, body=b'{"data": [{"index": 0, "embedding": [0.1,'))
    with pytest.raises(RemoteResponseError, match=r"HTTP 200 but the body is not JSON"):
        embedder(fault_server).embed(["a"])
    assert len(fault_server.requests) == 1


def test_wrong_number_of_vectors_raises(fault_server):
    fault_server.script("/v1/embeddings", openai_embeddings(drop_last=True))
    with pytest.raises(RemoteResponseError, match=r"sent 3 input\(s\) but got 2 result\(s\)"):
        embedder(fault_server).embed(["a", "b", "c"])


@pytest.mark.parametrize("indices", [[0, 0, 2], [0, 1, 3], [1, 2, 3]])
def test_wrong_indices_raise(fault_server, indices):
    data = [{"index": i, "embedding": [1.0, 0.0]} for i in indices]
    fault_server.script("/v1/embeddings", Reply(200, {"data": data}))
    with pytest.raises(RemoteResponseError, match=r"result indices .* do not match the 3 input"):
        embedder(fault_server).embed(["a", "b", "c"])


@pytest.mark.parametrize("body", [{"error": "x"}, {"data": [{"index": 0, "embedding": "%%%"}]},
                                  {"data": [{"index": 0, "embedding": []}]}, [1, 2],
                                  {"data": [{"index": 0, "embedding": [1.0, float("nan")]}]}])
def test_unusable_answers_raise(fault_server, body):
    fault_server.script("/v1/embeddings", Reply(200, body))
    with pytest.raises(RemoteResponseError):
        embedder(fault_server).embed(["a"])


def test_vectors_are_put_back_in_input_order_by_index(fault_server):
    fault_server.script("/v1/embeddings", openai_embeddings(shuffle=True))
    texts = ["alpha", "beta", "gamma"]
    out = embedder(fault_server).embed(texts)
    expected = truncate_and_normalize(np.asarray([fake_vector(t) for t in texts]), None)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_base64_embeddings_are_decoded(fault_server):
    vector = np.asarray([3.0, 4.0], dtype="<f4")
    data = [{"index": 0, "embedding": base64.b64encode(vector.tobytes()).decode()}]
    fault_server.script("/v1/embeddings", Reply(200, {"data": data}))
    np.testing.assert_allclose(embedder(fault_server, native_dimensions=2).embed(["a"]), [[0.6, 0.8]], atol=1e-6)


# -- dimensions ---------------------------------------------------------------------------------
def test_refused_dimensions_fall_back_to_client_truncation_and_are_remembered(fault_server, caplog):
    fault_server.script("/v1/embeddings", openai_embeddings(matryoshka=False))
    e = embedder(fault_server)
    with caplog.at_level(logging.WARNING):
        out = e.embed(["alpha", "beta"], dimensions=3)
    expected = truncate_and_normalize(np.asarray([fake_vector("alpha"), fake_vector("beta")]), 3)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert e.client_side_dimensions
    assert sum("refused 'dimensions'" in r.getMessage() for r in caplog.records) == 1
    bodies = [r.body for r in fault_server.requests]
    assert "dimensions" in bodies[0] and "dimensions" not in bodies[1]
    e.embed(["gamma"], dimensions=3)
    assert "dimensions" not in fault_server.requests[-1].body and len(fault_server.requests) == 3


def test_dimensions_are_sent_when_the_server_accepts_them(fault_server):
    fault_server.script("/v1/embeddings", openai_embeddings(matryoshka=True))
    e = embedder(fault_server, dimensions=4)
    out = e.embed(["alpha"])
    assert out.shape == (1, 4) and fault_server.requests[0].body["dimensions"] == 4
    assert not e.client_side_dimensions and e.dimension == 4


def test_a_server_that_ignores_dimensions_is_truncated_here(fault_server):
    fault_server.script("/v1/embeddings", Reply(200, {"data": [{"index": 0, "embedding": [1.0, 2.0, 2.0, 4.0]}]}))
    out = embedder(fault_server, native_dimensions=4).embed(["a"], dimensions=3)
    np.testing.assert_allclose(out, [[1 / 3, 2 / 3, 2 / 3]], atol=1e-6)


def test_shorter_vectors_than_asked_raise(fault_server):
    fault_server.script("/v1/embeddings", Reply(200, {"data": [{"index": 0, "embedding": [1.0, 2.0]}]}))
    with pytest.raises(RemoteResponseError, match="item 0: asked for 3 dimensions, the server sent a vector of 2"):
        embedder(fault_server, native_dimensions=None).embed(["a"], dimensions=3)


# -- protocols, batching, usage -----------------------------------------------------------------
def test_openai_protocol_chunks_by_batch_size_and_sums_usage(fault_server):
    fault_server.script("/v1/embeddings", openai_embeddings())
    e = embedder(fault_server, batch_size=2)
    out = e.embed(["one", "two words", "three more words", "four", "five"])
    assert out.shape == (5, 8)
    assert sorted(len(r.body["input"]) for r in fault_server.requests) == [1, 2, 2]
    assert (e.usage.prompt_tokens, e.usage.total_tokens, e.usage.requests) == (8, 8, 3)
    assert e.reset_usage().requests == 3 and e.usage.requests == 0


def test_openai_protocol_prefixes_queries_with_the_qwen3_embedding_instruction(fault_server):
    fault_server.script("/v1/embeddings", openai_embeddings())
    e = embedder(fault_server)
    e.embed_queries(["dog"])
    e.embed_documents(["a dog"])
    e.embed([{"text": "cat", "instruction": "Find cats"}])
    inputs = [r.body["input"] for r in fault_server.requests]
    task = "Given a web search query, retrieve relevant passages that answer the query"
    assert inputs == [[f"Instruct: {task}\nQuery:dog"], ["a dog"], ["Instruct: Find cats\nQuery:cat"]]


def test_openai_protocol_refuses_images_naming_the_item(fault_server):
    with pytest.raises(InputError) as info:
        embedder(fault_server).embed(["text", {"image": noise_image(1)}])
    assert info.value.index == 1 and "an image" in info.value.reason and "vllm-chat" in info.value.reason
    assert fault_server.requests == []  # validated before any request


def test_vllm_chat_payload_has_the_official_order_and_the_resized_pixels(fault_server, tmp_path):
    from PIL import Image

    fault_server.script("/v1/embeddings", openai_embeddings())
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    image = noise_image(5, (100, 70))
    e = embedder(fault_server, protocol="vllm-chat")
    e.embed([{"text": "caption", "image": image, "video": str(video), "instruction": "  Find clips "}])
    body = fault_server.requests[0].body
    assert body["add_generation_prompt"] is True and body["continue_final_message"] is False
    system, user = body["messages"]
    assert system == {"role": "system", "content": [{"type": "text", "text": "Find clips."}]}
    assert [p["type"] for p in user["content"]] == ["video_url", "image_url", "text"]
    assert user["content"][0]["video_url"]["url"].startswith("data:video/mp4;base64,")
    uri = user["content"][1]["image_url"]["url"]
    assert uri.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    local = load_image(image, MediaOptions(4096, 1843200, 7864320, 1.0, 64, 64))
    assert sent.size == local.size and sent.size[0] % 32 == 0 and sent.size[1] % 32 == 0
    assert np.array_equal(np.asarray(sent), np.asarray(local))


def test_vllm_chat_sends_one_request_per_item_with_the_default_instructions(fault_server):
    fault_server.script("/v1/embeddings", openai_embeddings())
    e = embedder(fault_server, protocol="vllm-chat")
    out = e.embed_documents(["a", {}, "c"])
    e.embed_queries(["q"])
    assert out.shape == (3, 8) and len(fault_server.requests) == 4
    systems = [r.body["messages"][0]["content"][0]["text"] for r in fault_server.requests]
    assert systems[:3] == ["Represent the user's input."] * 3
    assert systems[3] == "Retrieve images or text relevant to the user's query."
    users = sorted(r.body["messages"][1]["content"][0]["text"] for r in fault_server.requests[:3])
    assert users == ["NULL", "a", "c"]


def test_bad_media_is_an_input_error_before_any_request(fault_server, tmp_path):
    e = embedder(fault_server, protocol="vllm-chat")
    with pytest.raises(InputError, match=r"input item 1: file not found"):
        e.embed(["ok", {"image": str(tmp_path / "missing.png")}])
    with pytest.raises(InputError, match=r"input item 0: a video given as a list of frames"):
        e.embed([{"video": [noise_image(1), noise_image(2)]}])
    assert fault_server.requests == []


def test_default_protocol_follows_the_model_name():
    assert default_protocol("Qwen/Qwen3-VL-Embedding-8B") == "vllm-chat"
    assert default_protocol("/models/qwen3-vl-embedding-2b/") == "vllm-chat"
    assert default_protocol("qwen/qwen3-embedding-8b") == "openai"
    assert RemoteEmbedder("qwen/qwen3-embedding-8b", api_key="k").dimension == 4096  # known: no request


def test_unknown_dimension_is_probed_once(fault_server):
    fault_server.script("/v1/embeddings", openai_embeddings(width=5))
    e = RemoteEmbedder("custom", fault_server.base_url, api_key_env=None)
    assert e.dimension == 5 and e.dimension == 5
    assert len(fault_server.requests) == 1


def test_empty_input_sends_nothing(fault_server):
    assert embedder(fault_server).embed([]).shape == (0, 8)
    assert fault_server.requests == []


# -- concurrency and async ----------------------------------------------------------------------
def test_sync_requests_run_concurrently_within_the_bound(fault_server):
    def slow(seen):
        time.sleep(0.15)
        return openai_embeddings()(seen)

    fault_server.script("/v1/embeddings", slow)
    e = embedder(fault_server, protocol="vllm-chat", max_concurrency=2)
    out = e.embed([f"item {i}" for i in range(6)])
    assert out.shape == (6, 8)
    assert fault_server.peak_in_flight == 2  # concurrent (two at once), never more than the bound


async def test_async_embed_is_bounded_and_matches_sync(fault_server):
    def slow(seen):
        time.sleep(0.1)
        return openai_embeddings()(seen)

    fault_server.script("/v1/embeddings", slow)
    e = embedder(fault_server, protocol="vllm-chat", max_concurrency=3)
    items = [f"item {i}" for i in range(7)]
    out = await e.aembed(items)
    assert fault_server.peak_in_flight <= 3 and len(fault_server.requests) == 7
    np.testing.assert_array_equal(out, e.embed(items))
    queries = await e.aembed_queries(["q"])
    assert queries.shape == (1, 8)
    await e.aclose()


async def test_async_retries_and_refused_dimensions(fault_server):
    handler = openai_embeddings(matryoshka=False)
    failures = [Reply(429, {}, headers={"Retry-After": "0"}), Reply(500, {})]
    fault_server.script("/v1/embeddings", lambda seen: failures.pop(0) if failures else handler(seen))
    e = embedder(fault_server)
    out = await e.aembed(["alpha"], dimensions=2)
    assert out.shape == (1, 2) and e.client_side_dimensions
    assert len(fault_server.requests) == 4  # 429, 500, refused dimensions, success
    fault_server.script("/v1/embeddings", Reply(403, {"error": {"message": "forbidden"}}))
    with pytest.raises(AuthenticationError, match="HTTP 403"):
        await e.aembed(["x"])
    assert len(fault_server.requests) == 5


# -- issue 23: vectors checked like local ones (item 7), malformed usage (item 9) -------------------
def test_a_zero_vector_is_refused_naming_the_item_and_1e30_normalises(fault_server):
    fault_server.script("/v1/embeddings", Reply(200, {"data": [{"index": 0, "embedding": [0.6, 0.8]},
                                                               {"index": 1, "embedding": [0.0, 0.0]}]}))
    with pytest.raises(RemoteResponseError, match="item 1: the server sent a zero vector") as info:
        embedder(fault_server, native_dimensions=2).embed(["a", "b"])
    assert info.value.index == 1
    fault_server.script("/v1/embeddings", Reply(200, {"data": [{"index": 0, "embedding": [1e30, 1e30]}]}))
    out = embedder(fault_server, native_dimensions=2).embed(["a"])
    np.testing.assert_allclose(out, [[2 ** -0.5, 2 ** -0.5]], atol=1e-6)  # was [0, 0]: the float32 norm overflowed


def test_a_vector_zero_in_its_first_dimensions_is_refused(fault_server):
    fault_server.script("/v1/embeddings", Reply(200, {"data": [{"index": 0, "embedding": [0.0, 0.0, 1.0, 1.0]}]}))
    with pytest.raises(RemoteResponseError, match="item 0: .*zero in its first 2 values"):
        embedder(fault_server, native_dimensions=4).embed(["a"], dimensions=2)


@pytest.mark.parametrize("usage", [{"prompt_tokens": "n/a", "total_tokens": "n/a"},
                                   {"prompt_tokens": -1000, "total_tokens": -1000}, {"prompt_tokens": [1]}, "x"])
def test_malformed_usage_never_fails_the_call_nor_goes_negative(fault_server, usage, caplog):
    body = {"data": [{"index": 0, "embedding": [0.6, 0.8]}], "usage": usage}
    fault_server.script("/v1/embeddings", Reply(200, body))
    e = embedder(fault_server, native_dimensions=2)
    with caplog.at_level(logging.WARNING):
        np.testing.assert_allclose(e.embed(["a"]), [[0.6, 0.8]], atol=1e-6)
        e.embed(["b"])
    assert e.usage.prompt_tokens == 0 and e.usage.total_tokens == 0 and e.usage.cost(0.05) == 0
    assert e.usage.requests == 2 and e.usage.items == 2
    assert sum("ignored the server's usage" in r.getMessage() for r in caplog.records) == 1  # said once


def test_good_usage_still_adds_up(fault_server):
    body = {"data": [{"index": 0, "embedding": [0.6, 0.8]}], "usage": {"prompt_tokens": 5.0}}
    fault_server.script("/v1/embeddings", Reply(200, body))
    e = embedder(fault_server, native_dimensions=2)
    e.embed(["a"])
    e.embed(["b"])
    assert (e.usage.prompt_tokens, e.usage.total_tokens) == (10, 10)


# -- precision (applied on the client, after truncation) -----------------------------------------------
@pytest.mark.parametrize("precision", ["float16", "uint8", "ubinary", "binary"])
async def test_precision_is_applied_client_side_after_truncation(fault_server, precision):
    from qwen3_vl_rag.core.precision import calibration_ranges, quantize

    fault_server.script("/v1/embeddings", openai_embeddings(matryoshka=False))
    e = embedder(fault_server)
    items = ["one", "two words", "three more words"]
    floats = e.embed(items, dimensions=5)
    kwargs = {"calibration_embeddings": e.embed([f"cal {i}" for i in range(20)], dimensions=5)} \
        if precision == "uint8" else {}
    expected = quantize(floats, precision, **kwargs)
    for out in (e.embed(items, dimensions=5, precision=precision, **kwargs),
                await e.aembed(items, dimensions=5, precision=precision, **kwargs),
                e.embed_documents(items, dimensions=5, precision=precision, **kwargs),
                await e.aembed_documents(items, dimensions=5, precision=precision, **kwargs)):
        assert out.dtype == expected.dtype and out.shape == expected.shape
        np.testing.assert_array_equal(out, expected)
    queries = e.embed_queries(items, dimensions=5)
    np.testing.assert_array_equal(await e.aembed_queries(items, dimensions=5, precision=precision, **kwargs),
                                  quantize(queries, precision, **kwargs))
    assert all("precision" not in r.body for r in fault_server.requests)  # the server always sends floats
    ranges = calibration_ranges(np.random.default_rng(0).normal(size=(10, 8)))
    sent = len(fault_server.requests)
    with pytest.raises(ValueError, match=r"shape \(2, 8\).*5 dimensions"):
        e.embed(items, dimensions=5, precision="int8", ranges=ranges)
    with pytest.raises(ValueError, match="needs per-dimension ranges"):
        await e.aembed(items, precision="int8")
    assert len(fault_server.requests) == sent  # refused before any request
    assert e.embed([], precision="ubinary").shape == (0, 1)
