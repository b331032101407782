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
    RemoteEmbedder("m", fault_server.base_url, native_dimensions=8).embed(["a"])
    RemoteEmbedder("m", fault_server.base_url, api_key_env="MY_VLLM_KEY", native_dimensions=8).embed(["a"])
    RemoteEmbedder("m", fault_server.base_url, api_key="explicit", native_dimensions=8).embed(["a"])
    RemoteEmbedder("m", fault_server.base_url, api_key=SecretStr("as-secret"), native_dimensions=8).embed(["a"])
    RemoteEmbedder("m", fault_server.base_url, api_key_env=None, native_dimensions=8).embed(["a"])
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
    embedder = RemoteEmbedder("m", fault_server.base_url, client=client, native_dimensions=8)
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
        RemoteEmbedder("m", fault_server.base_url, api_key=SECRET, native_dimensions=8).embed(["a"])
    assert "not JSON" in str(info.value) and SECRET not in str(info.value)


# -- keys inside base_url, partial echoes, plain http (issue 23 item 10) ---------------------------
def test_a_key_in_the_query_string_is_used_but_never_shown(fault_server, caplog):
    fault_server.script(f"/v1/embeddings?key={SECRET}", Reply(500, {"error": {"message": "boom"}}))
    client = RemoteClient(f"{fault_server.base_url}?key={SECRET}", api_key_env=None, max_retries=0)
    embedder = RemoteEmbedder("m", client.base_url, client=client, native_dimensions=8)
    with caplog.at_level(logging.DEBUG), pytest.raises(RemoteError) as info:
        embedder.embed(["a"])
    assert fault_server.requests[0].path == f"/v1/embeddings?key={SECRET}"  # it reached the server
    assert "/v1/embeddings?key=***" in str(info.value)
    for text in (str(info.value), info.value.endpoint, repr(client), repr(embedder), client.base_url, caplog.text):
        assert SECRET not in text
    assert "HTTP Request: POST" in caplog.text  # httpx's own log line is there, masked


def test_a_key_as_user_password_is_sent_as_basic_auth_but_never_shown(fault_server):
    import base64

    fault_server.script("/v1/embeddings", Reply(401, {"error": {"message": "no"}}))
    url = fault_server.base_url.replace("http://", f"http://user:{SECRET}@")
    embedder = RemoteEmbedder("m", url, api_key_env=None, native_dimensions=8, max_retries=0)
    with pytest.raises(AuthenticationError) as info:
        embedder.embed(["a"])
    sent = fault_server.requests[0].headers["authorization"]
    assert sent == "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode()
    assert "http://***@127.0.0.1" in str(info.value)
    for text in (str(info.value), repr(embedder), repr(embedder.client), embedder.client.base_url):
        assert SECRET not in text and "user:" not in text


def test_a_key_in_the_url_and_an_api_key_are_refused_together_without_showing_either():
    with pytest.raises(ValueError, match="give one") as info:
        RemoteClient(f"http://user:{SECRET}@127.0.0.1:9/v1", api_key="other-key-123456")
    assert SECRET not in str(info.value) and "other-key-123456" not in str(info.value)
    with pytest.raises(ValueError) as info:
        RemoteClient(f"ftp://user:{SECRET}@127.0.0.1:9/v1?key={SECRET}")
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("echo", [SECRET[:-4], SECRET[4:], SECRET[:3] + "..." + SECRET[-4:], SECRET[10:20]])
def test_a_partial_echo_of_the_key_is_masked(fault_server, echo):
    fault_server.script("/v1/embeddings", Reply(400, {"error": {"message": f"bad key {echo} here"}}))
    with pytest.raises(RemoteError) as info:
        RemoteEmbedder("m", fault_server.base_url, api_key=SECRET, native_dimensions=8).embed(["a"])
    text = str(info.value)
    assert "bad key " in text and " here" in text
    runs = {SECRET[i:i + 4] for i in range(len(SECRET) - 3)}
    assert not any(run in text for run in runs), text  # no 4 characters of the key in a row


def test_a_key_over_plain_http_to_another_host_warns_once():
    from qwen3_vl_rag.core.remote import InsecureKeyWarning

    with pytest.warns(InsecureKeyWarning, match=r"plain http:// to 192\.0\.2\.77") as record:
        RemoteClient("http://192.0.2.77:8000/v1", api_key=SECRET)
    assert SECRET not in str(record[0].message)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RemoteClient("http://192.0.2.77:8000/v1", api_key=SECRET)  # once per host
        RemoteClient("https://192.0.2.78/v1", api_key=SECRET)  # encrypted
        RemoteClient("http://localhost:8000/v1", api_key=SECRET)  # this machine
        RemoteClient("http://127.0.0.2:8000/v1", api_key=SECRET)
        RemoteClient("http://[::1]:8000/v1", api_key=SECRET)
        RemoteClient("http://192.0.2.79:8000/v1", api_key_env=None)  # no key to leak
    with pytest.warns(InsecureKeyWarning):
        RemoteClient(f"http://user:{SECRET}@192.0.2.80/v1", api_key_env=None)  # a key in the URL too
