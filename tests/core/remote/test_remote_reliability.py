"""Issue 13, remote side: whole-request timeouts and an overall deadline, secrets masked before text is cut,
``max_concurrency`` per client object across threads and event loops, per-loop clients closed, and
``dimensions`` checked before any request. Against the local fault server (127.0.0.1), which stands in
for paid APIs and for misbehaviour a real server cannot be made to show on demand."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("httpx")

from qwen3_vl_rag.core.remote import RemoteClient, RemoteEmbedder, RemoteError, RemoteResponseError

from .conftest import Reply, openai_embeddings

OK = {"data": [{"index": 0, "embedding": [0.6, 0.8]}]}
KEY = "sk-live-0123456789abcdefghijklmnopqrstuv"


def client(server, **kwargs) -> RemoteClient:
    kwargs.setdefault("api_key_env", None)
    kwargs.setdefault("backoff_base", 0.01)
    return RemoteClient(server.base_url, **kwargs)


def embedder(server, **kwargs) -> RemoteEmbedder:
    c = client(server, **{k: kwargs.pop(k) for k in ("timeout", "deadline", "max_retries", "max_concurrency")
                          if k in kwargs})
    return RemoteEmbedder("test-model", server.base_url, protocol="openai", native_dimensions=8, api_key_env=None,
                          client=c, **kwargs)


# -- item 4: timeouts ---------------------------------------------------------------------------
def test_a_trickling_server_is_cut_at_the_timeout(fault_server):
    """Every byte comes within the read timeout, the whole answer takes ~4 s: the 0.5 s timeout holds."""
    body = b'{"data": [{"index": 0, "embedding": [0.6, 0.8]}], "pad": "' + b" " * 40 + b'"}'
    fault_server.script("/v1/embeddings", Reply(200, body=body, trickle=0.04))
    start = time.monotonic()
    with pytest.raises(RemoteError, match="timed out"):
        client(fault_server, timeout=0.5, max_retries=0).post("/embeddings", {"input": ["x"]})
    assert time.monotonic() - start < 1.5  # before the fix: the answer arrived whole after ~4 s


def test_a_trickling_server_is_cut_at_the_timeout_async(fault_server):
    body = b'{"data": [{"index": 0, "embedding": [0.6, 0.8]}], "pad": "' + b" " * 40 + b'"}'
    fault_server.script("/v1/embeddings", Reply(200, body=body, trickle=0.04))
    start = time.monotonic()
    with pytest.raises(RemoteError, match="timed out"):
        asyncio.run(client(fault_server, timeout=0.5, max_retries=0).apost("/embeddings", {"input": ["x"]}))
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_deadline_bounds_retries_and_retry_after(fault_server, mode):
    """Retry-After 100 s with 4 retries would block for minutes; a wait past the deadline is not even begun:
    the call ends at once, not when the deadline expires (a margin of half the deadline for a loaded machine)."""
    fault_server.script("/v1/embeddings", Reply(429, {"error": {"message": "slow down"}},
                                                headers={"Retry-After": "100"}))
    c = client(fault_server, timeout=5, deadline=10.0, max_retries=4)
    start = time.monotonic()
    with pytest.raises(RemoteError, match="deadline of 10 s"):
        if mode == "sync":
            c.post("/embeddings", {"input": ["x"]})
        else:
            asyncio.run(c.apost("/embeddings", {"input": ["x"]}))
    assert time.monotonic() - start < 5.0
    assert len(fault_server.to("/v1/embeddings")) == 1


def test_the_deadline_cuts_slow_attempts_and_their_retries(fault_server):
    fault_server.script("/v1/embeddings", Reply(200, OK, delay=0.6))
    start = time.monotonic()
    with pytest.raises(RemoteError):
        client(fault_server, timeout=0.4, deadline=1.0, max_retries=10).post("/embeddings", {"input": ["x"]})
    assert time.monotonic() - start < 1.6


def test_deadline_must_be_positive():
    with pytest.raises(ValueError, match="deadline"):
        RemoteClient("http://127.0.0.1:1/v1", api_key_env=None, deadline=0)


# -- item 5: mask, then cut ---------------------------------------------------------------------
@pytest.mark.parametrize("status", [200, 500])
def test_a_key_straddling_the_cut_is_masked(fault_server, status):
    """A non-JSON body echoes the key around the character where the message is cut."""
    for offset in (190, 195, 480, 495):
        fault_server.script("/v1/embeddings", Reply(status, body=(b"x" * offset + KEY.encode() + b" tail")))
        with pytest.raises(RemoteError) as info:
            client(fault_server, api_key=KEY, max_retries=0).post("/embeddings", {"input": ["x"]})
        text = str(info.value) + info.value.server_message
        assert KEY[:8] not in text, f"key prefix leaked at offset {offset}"
        if status == 200:
            assert isinstance(info.value, RemoteResponseError)


# -- item 6: concurrency per client object ------------------------------------------------------
def test_max_concurrency_holds_across_16_threads(fault_server):
    """16 threads x 1-item calls on one embedder with max_concurrency=4: at most 4 requests in flight."""
    handler = openai_embeddings()
    fault_server.script("/v1/embeddings", lambda seen: (time.sleep(0.15), handler(seen))[1])
    e = embedder(fault_server, max_concurrency=4, timeout=10)
    results, errors = [None] * 16, []

    def work(i):
        try:
            results[i] = e.embed([f"text {i}"])
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(fault_server.to("/v1/embeddings")) == 16
    assert fault_server.peak_in_flight <= 4  # before the fix: 10-16
    assert fault_server.peak_in_flight >= 2
    for i, vectors in enumerate(results):
        assert vectors.shape == (1, 8) and np.allclose(vectors, e.embed([f"text {i}"]))


def test_max_concurrency_holds_across_event_loops_and_threads(fault_server):
    handler = openai_embeddings()
    fault_server.script("/v1/embeddings", lambda seen: (time.sleep(0.15), handler(seen))[1])
    e = embedder(fault_server, max_concurrency=3, timeout=10)
    errors = []

    def async_work(seed):
        try:
            out = asyncio.run(e.aembed([f"a{seed} {i}" for i in range(6)]))
            assert out.shape == (6, 8)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def sync_work(seed):
        try:
            assert e.embed([f"s{seed}"]).shape == (1, 8)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=async_work, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=sync_work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert fault_server.peak_in_flight <= 3


def test_per_loop_async_clients_are_closed_with_their_loop(fault_server):
    """Each asyncio.run gets its own connection pool; it must be closed when that loop ends, not leaked."""
    fault_server.script("/v1/embeddings", openai_embeddings())
    e = embedder(fault_server)
    gc.collect()  # earlier tests' unclosed clients warn now, not inside the block below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for i in range(3):
            assert asyncio.run(e.aembed([f"run {i}"])).shape == (1, 8)
        del e
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks  # before the fix: "unclosed transport" / "unclosed <socket ...>"


# -- dimensions ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dimensions", [0, -1, 9, 2.5, True])
def test_bad_dimensions_are_refused_before_any_request(fault_server, dimensions):
    fault_server.script("/v1/embeddings", openai_embeddings())
    e = embedder(fault_server)
    with pytest.raises(ValueError, match="dimensions"):
        e.embed(["a"], dimensions=dimensions)
    assert fault_server.requests == []  # before the fix: 0 gave full vectors, 9 failed after the request


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_one_embed_call_shares_one_deadline_over_all_its_requests(fault_server, mode):
    """8 one-item requests, 2 at a time, 0.5 s each: 2 s in all, over the 1.2 s deadline of the call."""
    handler = openai_embeddings()
    fault_server.script("/v1/embeddings", lambda seen: (time.sleep(0.5), handler(seen))[1])
    c = client(fault_server, timeout=5, deadline=1.2, max_concurrency=2, max_retries=0)
    e = RemoteEmbedder("qwen3-vl-embedding-2b", fault_server.base_url, protocol="vllm-chat", native_dimensions=8,
                       api_key_env=None, client=c)
    items = [f"item {i}" for i in range(8)]
    start = time.monotonic()
    with pytest.raises(RemoteError, match="deadline of 1.2 s"):
        if mode == "sync":
            e.embed(items)
        else:
            asyncio.run(e.aembed(items))
    assert time.monotonic() - start < 1.9
    assert len(fault_server.requests) < 8


def test_a_call_instruction_that_is_not_unicode_is_refused_before_any_request(fault_server):
    from qwen3_vl_rag.core.remote import RemoteReranker

    fault_server.script("/v1/embeddings", openai_embeddings())
    with pytest.raises(ValueError, match="instruction: .*not valid Unicode"):
        embedder(fault_server).embed(["a"], instruction="task \ud800")
    with pytest.raises(ValueError, match="instruction: .*not valid Unicode"):
        RemoteReranker("m", fault_server.base_url, api_key_env=None).score("q", ["d"], instruction="\udfff")
    assert fault_server.requests == []


def test_dimensions_of_an_unknown_width_model_check_the_lower_bound(fault_server):
    from qwen3_vl_rag.core.remote import RemoteEmbedder

    fault_server.script("/v1/embeddings", openai_embeddings(width=8))
    e = RemoteEmbedder("unknown-model", fault_server.base_url, protocol="openai", api_key_env=None)
    with pytest.raises(ValueError, match="positive integer"):
        e.embed(["a"], dimensions=0)
    with pytest.raises(ValueError, match="dimensions"):
        RemoteEmbedder("qwen3-embedding-0.6b", fault_server.base_url, api_key_env=None, dimensions=2048)
    assert fault_server.requests == []
    assert e.embed(["a"], dimensions=4).shape == (1, 4)
