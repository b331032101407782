"""RemoteReranker against a local fault server standing in for rerank APIs (OpenRouter's Cohere-style
/rerank, older vLLM servers with only /score): endpoint fallback, payload shapes, index mapping, counts."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("httpx")

from qwen3_vl_rag.core import InputError
from qwen3_vl_rag.core.remote import RemoteClient, RemoteError, RemoteReranker, RemoteResponseError

from .conftest import Reply, noise_image


def reranker(server, **kwargs) -> RemoteReranker:
    c = RemoteClient(server.base_url, api_key_env=None, backoff_base=0.01, max_retries=kwargs.pop("max_retries", 2))
    return RemoteReranker("rr", server.base_url, client=c, **kwargs)


def rerank_handler(scores_by_doc: dict[str, float]):
    """A /rerank server: results sorted by score (not by index, as real servers do), top_n honoured."""

    def handle(seen):
        docs = seen.body["documents"]
        results = [{"index": i, "relevance_score": scores_by_doc.get(d if isinstance(d, str) else "mm", 0.5),
                    "document": {"text": d if isinstance(d, str) else None}} for i, d in enumerate(docs)]
        results.sort(key=lambda r: -r["relevance_score"])
        top_n = seen.body.get("top_n") or len(results)
        return Reply(200, {"id": "x", "model": "rr", "results": results[:top_n],
                           "usage": {"prompt_tokens": 10 * len(docs), "total_tokens": 10 * len(docs)}})

    return handle


def score_handler(key_1: str, key_2: str, scores_by_doc: dict[str, float]):
    def handle(seen):
        if key_2 not in seen.body:
            return Reply(422, {"detail": [{"type": "missing", "loc": ["body", key_1], "msg": "Field required"}]})
        docs = seen.body[key_2]
        data = [{"index": i, "object": "score", "score": scores_by_doc[d]} for i, d in enumerate(docs)]
        return Reply(200, {"data": list(reversed(data)), "usage": {"prompt_tokens": 5, "total_tokens": 5}})

    return handle


SCORES = {"cat": 0.9, "dog": 0.2, "car": 0.6}


def test_rerank_maps_results_back_by_index_and_sorts(fault_server):
    fault_server.script("/v1/rerank", rerank_handler(SCORES))
    r = reranker(fault_server)
    scores = r.score("pets", ["dog", "cat", "car"])
    np.testing.assert_allclose(scores, [0.2, 0.9, 0.6], atol=1e-7)
    assert scores.dtype == np.float32
    assert r.rerank("pets", ["dog", "cat", "car"], top_n=2) == [(1, pytest.approx(0.9)), (2, pytest.approx(0.6))]
    body = fault_server.requests[0].body
    assert body["query"] == "pets" and body["documents"] == ["dog", "cat", "car"] and body["top_n"] == 3
    assert body["instruction"] == "Given a search query, retrieve relevant candidates that answer the query."
    assert r.endpoint == "/rerank" and r.usage.prompt_tokens == 60


def test_404_on_rerank_falls_back_to_score_and_remembers_it(fault_server):
    fault_server.script("/v1/score", score_handler("queries", "documents", SCORES))
    r = reranker(fault_server)
    np.testing.assert_allclose(r.score("q", ["cat", "dog"]), [0.9, 0.2], atol=1e-7)
    assert [x.path for x in fault_server.requests] == ["/v1/rerank", "/v1/score"]
    assert fault_server.requests[1].body["queries"] == "q"
    r.score("q", ["car"])
    assert [x.path for x in fault_server.requests][2:] == ["/v1/score"]  # no second /rerank attempt
    assert r.endpoint == "/score"


def test_old_score_servers_get_text_1_and_text_2(fault_server):
    fault_server.script("/v1/score", score_handler("text_1", "text_2", SCORES))
    r = reranker(fault_server)
    np.testing.assert_allclose(r.score("q", ["car", "cat"]), [0.6, 0.9], atol=1e-7)
    assert fault_server.requests[-1].body == {"model": "rr", "text_1": "q", "text_2": ["car", "cat"],
                                              "instruction": r.default_instruction}
    assert r.endpoint == "/score:text"


def test_no_rerank_and_no_score_is_a_clear_error(fault_server):
    with pytest.raises(RemoteError, match=r"/v1/score failed with HTTP 404"):
        reranker(fault_server).score("q", ["a"])


def test_missing_or_extra_results_raise(fault_server):
    fault_server.script("/v1/rerank", Reply(200, {"results": [{"index": 0, "relevance_score": 0.5}]}))
    with pytest.raises(RemoteResponseError, match=r"sent 2 input\(s\) but got 1"):
        reranker(fault_server).score("q", ["a", "b"])
    fault_server.script("/v1/rerank", Reply(200, {"results": [{"index": 0, "relevance_score": 0.5},
                                                              {"index": 0, "relevance_score": 0.4}]}))
    with pytest.raises(RemoteResponseError, match=r"indices \[0, 0\]"):
        reranker(fault_server).score("q", ["a", "b"])
    fault_server.script("/v1/rerank", Reply(200, {"results": [{"index": 0, "relevance_score": "high"}]}))
    with pytest.raises(RemoteResponseError, match="no numeric 'relevance_score'"):
        reranker(fault_server).score("q", ["a"])


def test_5xx_is_retried_for_rerank(fault_server):
    handler = rerank_handler(SCORES)
    failures = [Reply(503, {"error": {"message": "busy"}})]
    fault_server.script("/v1/rerank", lambda seen: failures.pop() if failures else handler(seen))
    np.testing.assert_allclose(reranker(fault_server).score("q", ["cat"]), [0.9])
    assert len(fault_server.requests) == 2


def test_multimodal_documents_are_content_parts_with_joined_text(fault_server):
    fault_server.script("/v1/rerank", rerank_handler({}))
    reranker(fault_server).score({"image": noise_image(2), "text": "like this"},
                                 ["plain", {"image": noise_image(3), "text": ["a ", "dog"]}, {}])
    body = fault_server.requests[0].body
    assert [p["type"] for p in body["query"]["content"]] == ["image_url", "text"]
    assert body["query"]["content"][1]["text"] == "like this"
    plain, mixed, empty = body["documents"]
    assert plain == "plain" and empty == "NULL"
    assert [p["type"] for p in mixed["content"]] == ["image_url", "text"]
    assert mixed["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert mixed["content"][1] == {"type": "text", "text": "a dog"}  # joined as the local prompt joins them


def test_score_pairs_sends_one_request_per_distinct_query_and_keeps_pair_order(fault_server):
    fault_server.script("/v1/rerank", rerank_handler(SCORES))
    r = reranker(fault_server)
    scores = r.score_pairs([("q1", "cat"), ("q2", "dog"), ("q1", "car"), ("q2", "cat")])
    np.testing.assert_allclose(scores, [0.9, 0.2, 0.6, 0.9], atol=1e-7)
    assert sorted((x.body["query"], tuple(x.body["documents"])) for x in fault_server.requests) == [
        ("q1", ("cat", "car")), ("q2", ("dog", "cat"))]


def test_per_query_instruction_wins(fault_server):
    fault_server.script("/v1/rerank", rerank_handler(SCORES))
    r = reranker(fault_server)
    r.score({"text": "q", "instruction": "Find pets"}, ["cat"], instruction="ignored")
    r.score("q", ["cat"], instruction="Find cars")
    assert [x.body["instruction"] for x in fault_server.requests] == ["Find pets", "Find cars"]


def test_bad_pairs_name_the_index(fault_server):
    with pytest.raises(InputError, match="input item 1: expected a"):
        reranker(fault_server).score_pairs([("q", "a"), ("only one",)])
    with pytest.raises(TypeError):
        reranker(fault_server).score("q", "not a list")
    assert fault_server.requests == []


async def test_async_rerank(fault_server):
    fault_server.script("/v1/score", score_handler("queries", "documents", SCORES))
    r = reranker(fault_server)
    assert await r.arerank("q", ["dog", "cat"]) == [(1, pytest.approx(0.9)), (0, pytest.approx(0.2))]
    np.testing.assert_allclose(await r.ascore_pairs([("a", "car"), ("b", "dog")]), [0.6, 0.2], atol=1e-7)
    assert r.endpoint == "/score"
