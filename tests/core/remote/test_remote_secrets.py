"""The API key: where it comes from, that it reaches the server, and that it never shows up in repr/str,
logs or error messages. The fault server (127.0.0.1) stands in for OpenRouter."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("httpx")

from pydantic import SecretStr

from qwen3_vl_rag.core.remote import AuthenticationError, RemoteClient, RemoteEmbedder, RemoteError, RemoteReranker

from .conftest import Reply, openai_embeddings

SECRET = "sk-or-v1-0123456789abcdef-TOPSECRET"


def test_key_from_openrouter_variable_named_variable_or_argument(fault_server, monkeypatch):
    fault_server.script("/v1/embeddings", openai_embeddings())
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    monkeypatch.setenv("MY_VLLM_KEY", "other-key")
    RemoteEmbedder("m", fault_server.base_url).embed(["a"])
    RemoteEmbedder("m", fault_server.base_url, api_key_env="MY_VLLM_KEY").embed(["a"])
    RemoteEmbedder("m", fault_server.base_url, api_key="explicit").embed(["a"])
    RemoteEmbedder("m", fault_server.base_url, api_key=SecretStr("as-secret")).embed(["a"])
    RemoteEmbedder("m", fault_server.base_url, api_key_env=None).embed(["a"])
    sent = [r.headers.get("authorization") for r in fault_server.requests]
    assert sent == [f"Bearer {SECRET}", "Bearer other-key", "Bearer explicit", "Bearer as-secret", None]


def test_key_is_not_in_repr_or_str(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    client = RemoteClient("http://127.0.0.1:9/v1")
    embedder = RemoteEmbedder("qwen/qwen3-embedding-8b", "http://127.0.0.1:9/v1")
    reranker = RemoteReranker("rr", "http://127.0.0.1:9/v1", api_key=SECRET)
    for obj in (client, embedder, reranker, client.api_key):
        assert SECRET not in repr(obj) and SECRET not in str(obj)
    assert "**********" in repr(client)
    assert client.api_key.get_secret_value() == SECRET  # still usable


def test_key_never_reaches_logs_or_errors_even_when_the_server_echoes_it(fault_server, caplog):
    fault_server.script("/v1/embeddings",
                        Reply(429, {"error": {"message": f"slow down, {SECRET}"}}, headers={"Retry-After": "0"}),
                        Reply(500, body=f"internal error for key {SECRET}".encode()),
                        Reply(401, {"error": {"message": f"Invalid key {SECRET}"}}))
    client = RemoteClient(fault_server.base_url, api_key=SECRET, backoff_base=0.01)
    embedder = RemoteEmbedder("m", fault_server.base_url, client=client)
    with caplog.at_level(logging.DEBUG):  # httpx/httpcore debug logging included
        with pytest.raises(AuthenticationError) as info:
            embedder.embed(["a"])
    assert fault_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"  # it was sent
    assert len(fault_server.requests) == 3
    assert "Invalid key **********" in str(info.value)  # the server's message, masked
    for text in (str(info.value), repr(info.value), info.value.server_message, caplog.text):
        assert SECRET not in text
    assert any("HTTP 429" in r.getMessage() for r in caplog.records)  # the retries were logged
    assert any(r.name.startswith(("httpx", "httpcore")) for r in caplog.records)  # and the transport's debug log


def test_key_not_in_malformed_body_errors(fault_server):
    fault_server.script("/v1/embeddings", Reply(200, body=f"oops {SECRET}".encode()))
    with pytest.raises(RemoteError) as info:
        RemoteEmbedder("m", fault_server.base_url, api_key=SECRET).embed(["a"])
    assert "not JSON" in str(info.value) and SECRET not in str(info.value)
