"""The bad-answer corpus: every malformed answer a server or a proxy in between can give, and what the
remote client must make of it (see test_remote_bad_answers.py, which runs each case on the sync and the
async path against a real local HTTP server).

The promise for each: the call returns correct vectors / scores (``OK``), or raises a ``RemoteError`` of
the named class whose message holds ``match`` (and, when the fault belongs to one item, whose ``index``
is the caller's index of that item). Nothing else escapes (no httpx, json, numpy or Python errors), no
secret shows in any message, and usage never goes negative.

A case's ``reply`` is a function of the context (``Ctx``: the other server a redirect points at, the
secret, the request the server saw) returning a ``Reply``. The embedder cases run with three inputs
``INPUTS`` in one request against a model of ``WIDTH`` dimensions; the reranker cases score three
documents for one query.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwen3_vl_rag.core.remote import RemoteError, RemoteResponseError

from .conftest import FaultServer, Reply

SECRET = "sk-or-v1-corpus-0123456789abcdef-TOPSECRET"
INPUTS = ["alpha", "beta", "gamma"]
WIDTH = 8
MAX_RESPONSE_BYTES = 1 << 20  # the corpus client's limit (the default is 256 MiB)
OK = None


@dataclass
class Ctx:
    other: FaultServer  # a second server: where redirects point
    secret: str = SECRET


@dataclass(frozen=True)
class Answer:
    id: str
    category: str
    reply: Callable[[Ctx], Reply]
    expect: type[RemoteError] | None  # OK, or the error class
    match: str = ""  # a substring of the error message
    index: int | None = None  # the caller's item the error names (RemoteResponseError.index)
    check: Callable[[Any, Any], None] | None = None  # for OK cases: check(result, model)


# -- encoders: each Content-Encoding a client may advertise ---------------------------------------
def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _brotli(data: bytes) -> bytes:
    import brotli

    return brotli.compress(data)


ENCODERS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "deflate": zlib.compress,
                                                 "zstd": _zstd, "br": _brotli}


def advertised_encodings() -> list[str]:
    """What the client's httpx sends in Accept-Encoding (gzip and deflate always; zstd, br with their packages)."""
    import httpx

    with httpx.Client() as client:
        return [e.strip() for e in client.headers["accept-encoding"].split(",") if e.strip()]


# -- answer builders --------------------------------------------------------------------------------
def vec(i: int, width: int = WIDTH) -> list[float]:
    return np.random.RandomState(i).normal(size=width).round(6).tolist()


def unit(vectors: list[list[float]]) -> np.ndarray:
    a = np.asarray(vectors, dtype=np.float64)
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


GOOD_VECTORS = [vec(i) for i in range(len(INPUTS))]


def embeddings(vectors: list[Any] | None = None, *, indices: list[Any] | None = None,
               usage: Any = "default") -> dict[str, Any]:
    vectors = GOOD_VECTORS if vectors is None else vectors
    indices = list(range(len(vectors))) if indices is None else indices
    body: dict[str, Any] = {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": v}
                                                       for i, v in zip(indices, vectors)]}
    if usage == "default":
        usage = {"prompt_tokens": 3, "total_tokens": 3}
    if usage != "absent":
        body["usage"] = usage
    return body


def with_vector(position: int, value: Any) -> dict[str, Any]:
    vectors = [list(v) for v in GOOD_VECTORS]
    vectors[position] = value
    return embeddings(vectors)


def good_body() -> bytes:
    return json.dumps(embeddings()).encode()


def raw(status_line: str, headers: dict[str, str], body: bytes) -> Reply:
    head = status_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return Reply(raw=head.encode() + body)


def _is_good(result: Any, model: Any) -> None:
    np.testing.assert_allclose(result, unit(GOOD_VECTORS), atol=1e-6)


def _usage(prompt: int) -> Callable[[Any, Any], None]:
    def check(result: Any, model: Any) -> None:
        _is_good(result, model)
        assert model.usage.prompt_tokens == prompt and model.usage.total_tokens >= 0, model.usage
        assert model.usage.requests == 1 and model.usage.items == len(INPUTS)
    return check


def _unit_rows(expected: np.ndarray) -> Callable[[Any, Any], None]:
    def check(result: Any, model: Any) -> None:
        np.testing.assert_allclose(result, expected, atol=1e-6)
        assert np.allclose(np.linalg.norm(result, axis=1), 1.0, atol=1e-5)
    return check


HTML_502 = (b"<html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head><body><center>"
            b"<h1>502 Bad Gateway</h1></center><hr><center>nginx/1.25.3</center></body></html>")


def _encoded(encoding: str, data: bytes) -> Reply:
    return Reply(200, body=ENCODERS[encoding](data), headers={"Content-Encoding": encoding})


def encoding_cases(encodings: list[str]) -> list[Answer]:
    """Per advertised encoding: a good compressed answer decodes; a corrupt or truncated one is reported."""
    cases = []
    for e in encodings:
        cases += [
            Answer(f"{e}-ok", "encoding", lambda c, e=e: _encoded(e, good_body()), OK, check=_is_good),
            Answer(f"{e}-corrupt", "encoding",
                   lambda c, e=e: Reply(200, body=b"\x00not compressed at all" * 4, headers={"Content-Encoding": e}),
                   RemoteResponseError),
            Answer(f"{e}-truncated", "encoding",
                   lambda c, e=e: Reply(200, body=ENCODERS[e](good_body())[:-12], headers={"Content-Encoding": e}),
                   RemoteResponseError),
            Answer(f"{e}-labelled-but-plain", "encoding",
                   lambda c, e=e: Reply(200, body=good_body(), headers={"Content-Encoding": e}), RemoteResponseError),
            # A decompression bomb: 4 MiB of JSON whitespace in a few KiB; cut at max_response_bytes.
            Answer(f"{e}-bomb", "encoding",
                   lambda c, e=e: _encoded(e, b" " * (4 << 20) + good_body()), RemoteResponseError,
                   "larger than max_response_bytes"),
        ]
    return cases


EMBED_CASES: list[Answer] = [
    # -- encodings beyond the advertised ones --------------------------------------------------------
    Answer("gzip-twice", "encoding", lambda c: Reply(200, body=gzip.compress(gzip.compress(good_body())),
                                                     headers={"Content-Encoding": "gzip, gzip"}), OK, check=_is_good),
    Answer("unknown-encoding", "encoding",
           lambda c: Reply(200, body=b"\x8b\x01opaque", headers={"Content-Encoding": "x-custom"}),
           RemoteResponseError, "sent with Content-Encoding: x-custom"),
    # -- truncation and broken framing ----------------------------------------------------------------
    Answer("closed-before-answer", "truncation", lambda c: Reply(drop=True), RemoteError, "gave up after 1 attempt"),
    Answer("content-length-too-long", "truncation",
           lambda c: raw("HTTP/1.1 200 OK", {"Content-Type": "application/json", "Content-Length": "5000"},
                         good_body()[:40]), RemoteError, "connection failed"),
    Answer("chunked-cut", "truncation",
           lambda c: raw("HTTP/1.1 200 OK", {"Transfer-Encoding": "chunked"}, b"400\r\n" + good_body()[:50]),
           RemoteError, "connection failed"),
    Answer("chunked-garbage-size", "truncation",
           lambda c: raw("HTTP/1.1 200 OK", {"Transfer-Encoding": "chunked"}, b"zz\r\nabc\r\n0\r\n\r\n"),
           RemoteError, "connection failed"),
    Answer("garbage-status-line", "truncation", lambda c: Reply(raw=b"HELLO THERE\r\n\r\n"), RemoteError,
           "connection failed"),
    Answer("json-cut-short", "truncation", lambda c: Reply(200, body=good_body()[:-30]), RemoteResponseError,
           "not JSON"),
    Answer("empty-200", "truncation", lambda c: Reply(200, body=b""), RemoteResponseError, "not JSON"),
    Answer("no-content-204", "truncation", lambda c: Reply(204, body=b""), RemoteResponseError, "HTTP 204"),
    # -- huge and deep bodies -------------------------------------------------------------------------
    Answer("deep-nesting", "huge/deep", lambda c: Reply(200, body=b"[" * 200_000 + b"]" * 200_000),
           RemoteResponseError, "nested too deep"),
    Answer("deep-nesting-in-vector", "huge/deep",
           lambda c: Reply(200, body=b'{"data": [{"index": 0, "embedding": ' + b"[" * 50_000 + b"]" * 50_000
                                     + b"}]}"), RemoteResponseError, "nested too deep"),
    Answer("body-over-limit", "huge/deep",
           lambda c: Reply(200, body=json.dumps({**embeddings(), "pad": "x" * (MAX_RESPONSE_BYTES + 10)}).encode()),
           RemoteResponseError, "larger than max_response_bytes"),
    Answer("vector-of-100k", "huge/deep", lambda c: Reply(200, with_vector(1, [0.5] * 100_000)),
           RemoteResponseError, "has 100000 values, the others of the answer 8", index=1),
    Answer("number-1e400", "huge/deep", lambda c: Reply(200, body=json.dumps(with_vector(0, [1.0] * 7 + ["X"]))
                                                        .replace('"X"', "1e400").encode()),
           RemoteResponseError, "NaN or infinity", index=0),
    Answer("integer-10e400", "huge/deep", lambda c: Reply(200, with_vector(2, [10**400] + [1] * (WIDTH - 1))),
           RemoteResponseError, "NaN or infinity", index=2),
    # -- redirects (never followed: they could carry the key elsewhere) -------------------------------
    Answer("redirect-other-host", "redirect",
           lambda c: Reply(307, body=b"", headers={"Location": c.other.base_url + "/embeddings"}), RemoteError,
           "HTTP 307 redirect to http://127.0.0.1:"),
    Answer("redirect-loop", "redirect", lambda c: Reply(302, body=b"", headers={"Location": "/v1/embeddings"}),
           RemoteError, "redirects are not followed"),
    Answer("redirect-no-location", "redirect", lambda c: Reply(301, body=b""), RemoteError, "no Location header"),
    Answer("redirect-location-echoes-key", "redirect",
           lambda c: Reply(308, body=b"", headers={"Location": f"https://evil.example/?k={c.secret}"}),
           RemoteError, "https://evil.example/?k=**********"),
    # -- status and body disagree -----------------------------------------------------------------------
    Answer("html-502-page", "status/body", lambda c: Reply(502, body=HTML_502, headers={"Content-Type": "text/html"}),
           RemoteError, "HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx/1.25.3"),
    Answer("html-200-page", "status/body",
           lambda c: Reply(200, body=b"<!DOCTYPE html><html><title>Sign in</title><body>Please log in</body></html>",
                           headers={"Content-Type": "text/html"}),
           RemoteResponseError, "not JSON: 'Sign in Please log in'"),
    Answer("error-object-with-200", "status/body",
           lambda c: Reply(200, {"error": {"message": "model is overloaded", "code": 502}}), RemoteResponseError,
           "body is an error: model is overloaded"),
    Answer("error-string-with-200", "status/body", lambda c: Reply(200, {"error": "quota exceeded"}),
           RemoteResponseError, "body is an error: quota exceeded"),
    Answer("json-as-text-plain", "status/body",
           lambda c: Reply(200, body=good_body(), headers={"Content-Type": "text/plain"}), OK, check=_is_good),
    Answer("json-as-octet-stream", "status/body",
           lambda c: Reply(200, body=good_body(), headers={"Content-Type": "application/octet-stream"}), OK,
           check=_is_good),
    Answer("not-utf8", "status/body", lambda c: Reply(200, body=b"\xff\xfe\xfa garbage"), RemoteResponseError,
           "not JSON"),
    Answer("json-null", "status/body", lambda c: Reply(200, body=b"null"), RemoteResponseError,
           "expected a JSON object, got NoneType"),
    Answer("json-list", "status/body", lambda c: Reply(200, [GOOD_VECTORS]), RemoteResponseError,
           "expected a JSON object, got list"),
    Answer("detail-404", "status/body", lambda c: Reply(404, {"detail": "Not Found"}), RemoteError,
           "HTTP 404: Not Found"),
    Answer("server-echoes-key-minus-4", "status/body",
           lambda c: Reply(400, {"error": {"message": f"bad key {c.secret[:-4]} for this model"}}), RemoteError,
           "bad key ********** for this model"),
    Answer("server-echoes-key-ends", "status/body",
           lambda c: Reply(401, {"error": {"message": f"Wrong API key: {c.secret[:3]}...{c.secret[-4:]}"}}),
           RemoteError, "Wrong API key: sk-...**********"),
    # -- counts and indexes -----------------------------------------------------------------------------
    Answer("fewer-results", "count/index", lambda c: Reply(200, embeddings(GOOD_VECTORS[:2])), RemoteResponseError,
           "sent 3 input(s) but got 2"),
    Answer("more-results", "count/index", lambda c: Reply(200, embeddings(GOOD_VECTORS + [vec(9)])),
           RemoteResponseError, "sent 3 input(s) but got 4"),
    Answer("no-results", "count/index", lambda c: Reply(200, embeddings([])), RemoteResponseError,
           "sent 3 input(s) but got 0"),
    Answer("duplicate-index", "count/index", lambda c: Reply(200, embeddings(indices=[0, 1, 1])), RemoteResponseError,
           "indices [0, 1, 1] do not match"),
    Answer("index-out-of-range", "count/index", lambda c: Reply(200, embeddings(indices=[0, 1, 3])),
           RemoteResponseError, "indices [0, 1, 3]"),
    Answer("negative-index", "count/index", lambda c: Reply(200, embeddings(indices=[-1, 0, 1])),
           RemoteResponseError, "indices [-1, 0, 1]"),
    Answer("index-missing", "count/index",
           lambda c: Reply(200, {"data": [{"embedding": v} for v in GOOD_VECTORS]}), RemoteResponseError,
           "no integer 'index'"),
    Answer("index-as-string", "count/index", lambda c: Reply(200, embeddings(indices=["0", "1", "2"])),
           RemoteResponseError, "no integer 'index' (got str '0')"),
    Answer("index-as-float", "count/index", lambda c: Reply(200, embeddings(indices=[0.0, 1.0, 2.0])),
           RemoteResponseError, "no integer 'index' (got float"),
    Answer("index-as-bool", "count/index", lambda c: Reply(200, embeddings(indices=[False, True, 2])),
           RemoteResponseError, "no integer 'index' (got bool"),
    Answer("data-missing", "count/index", lambda c: Reply(200, {"object": "list"}), RemoteResponseError,
           "no 'data' list"),
    Answer("data-is-object", "count/index", lambda c: Reply(200, {"data": {"0": GOOD_VECTORS[0]}}),
           RemoteResponseError, "no 'data' list"),
    Answer("entries-are-lists", "count/index", lambda c: Reply(200, {"data": GOOD_VECTORS}), RemoteResponseError,
           "no integer 'index'"),
    Answer("shuffled-order", "count/index",
           lambda c: Reply(200, embeddings(GOOD_VECTORS[::-1], indices=[2, 1, 0])), OK, check=_is_good),
    # -- vectors --------------------------------------------------------------------------------------
    Answer("nan", "vector", lambda c: Reply(200, body=json.dumps(with_vector(1, [float("nan")] * WIDTH)).encode()),
           RemoteResponseError, "NaN or infinity", index=1),
    Answer("infinity", "vector",
           lambda c: Reply(200, body=json.dumps(with_vector(2, [1.0] * 7 + [float("inf")])).encode()),
           RemoteResponseError, "NaN or infinity", index=2),
    Answer("minus-infinity", "vector",
           lambda c: Reply(200, body=json.dumps(with_vector(0, [float("-inf")] + [0.0] * 7)).encode()),
           RemoteResponseError, "NaN or infinity", index=0),
    Answer("zero-vector", "vector", lambda c: Reply(200, with_vector(1, [0.0] * WIDTH)), RemoteResponseError,
           "zero vector", index=1),
    Answer("negative-zero-vector", "vector", lambda c: Reply(200, with_vector(2, [-0.0] * WIDTH)),
           RemoteResponseError, "zero vector", index=2),
    Answer("all-1e30", "vector", lambda c: Reply(200, with_vector(1, [1e30] * WIDTH)), OK,
           check=_unit_rows(unit([GOOD_VECTORS[0], [1.0] * WIDTH, GOOD_VECTORS[2]]))),
    Answer("mixed-1e300", "vector", lambda c: Reply(200, with_vector(0, [1e300, -1e300] + [0.0] * 6)), OK,
           check=_unit_rows(unit([[1.0, -1.0] + [0.0] * 6, GOOD_VECTORS[1], GOOD_VECTORS[2]]))),
    Answer("denormals", "vector", lambda c: Reply(200, with_vector(0, [1e-310] * WIDTH)), OK,
           check=_unit_rows(unit([[1.0] * WIDTH, GOOD_VECTORS[1], GOOD_VECTORS[2]]))),
    Answer("shorter-than-model", "vector", lambda c: Reply(200, embeddings([vec(i, 4) for i in range(3)])),
           RemoteResponseError, "vector of 4 values, expected 8 (the model's size)", index=0),
    Answer("longer-than-model", "vector", lambda c: Reply(200, embeddings([vec(i, 16) for i in range(3)])),
           RemoteResponseError, "vector of 16 values, expected 8", index=0),
    Answer("ragged", "vector", lambda c: Reply(200, with_vector(2, vec(2, 7))), RemoteResponseError,
           "has 7 values, the others of the answer 8", index=2),
    Answer("strings-for-numbers", "vector", lambda c: Reply(200, with_vector(1, [str(x) for x in vec(1)])),
           RemoteResponseError, "holds str '", index=1),
    Answer("bools-for-numbers", "vector", lambda c: Reply(200, with_vector(0, [True] * WIDTH)), RemoteResponseError,
           "holds bool True", index=0),
    Answer("null-in-vector", "vector", lambda c: Reply(200, with_vector(2, [0.1] * 7 + [None])), RemoteResponseError,
           "holds NoneType None", index=2),
    Answer("nested-vector", "vector", lambda c: Reply(200, with_vector(1, [vec(1)])), RemoteResponseError,
           "holds list", index=1),
    Answer("empty-vector", "vector", lambda c: Reply(200, with_vector(1, [])), RemoteResponseError,
           "not a list of numbers", index=1),
    Answer("vector-missing", "vector",
           lambda c: Reply(200, {"data": [{"index": i} for i in range(3)]}), RemoteResponseError,
           "not a list of numbers (got NoneType", index=0),
    Answer("vector-is-object", "vector", lambda c: Reply(200, with_vector(2, {"values": vec(2)})),
           RemoteResponseError, "not a list of numbers (got dict", index=2),
    Answer("base64-ok", "vector",
           lambda c: Reply(200, embeddings([base64.b64encode(np.asarray(v, "<f4").tobytes()).decode()
                                            for v in GOOD_VECTORS])), OK, check=_is_good),
    Answer("base64-invalid", "vector", lambda c: Reply(200, with_vector(1, "%%%not base64")), RemoteResponseError,
           "not valid base64", index=1),
    Answer("base64-odd-bytes", "vector", lambda c: Reply(200, with_vector(1, base64.b64encode(b"12345").decode())),
           RemoteResponseError, "not base64 float32 (5 bytes)", index=1),
    Answer("base64-nan", "vector",
           lambda c: Reply(200, with_vector(2, base64.b64encode(np.full(WIDTH, np.nan, "<f4").tobytes()).decode())),
           RemoteResponseError, "NaN or infinity", index=2),
    Answer("base64-wrong-size", "vector",
           lambda c: Reply(200, with_vector(0, base64.b64encode(np.ones(4, "<f4").tobytes()).decode())),
           RemoteResponseError, "has 4 values, the others of the answer 8", index=0),
    # -- usage (the vectors are good; only the accounting is malformed: it is ignored, never negative) --
    Answer("usage-string", "usage", lambda c: Reply(200, embeddings(usage={"prompt_tokens": "n/a",
                                                                           "total_tokens": "n/a"})),
           OK, check=_usage(0)),
    Answer("usage-negative", "usage", lambda c: Reply(200, embeddings(usage={"prompt_tokens": -500,
                                                                             "total_tokens": -500})),
           OK, check=_usage(0)),
    Answer("usage-fraction", "usage", lambda c: Reply(200, embeddings(usage={"prompt_tokens": 2.5})), OK,
           check=_usage(0)),
    Answer("usage-integral-float", "usage", lambda c: Reply(200, embeddings(usage={"prompt_tokens": 7.0})), OK,
           check=_usage(7)),
    Answer("usage-nan", "usage", lambda c: Reply(200, body=json.dumps(embeddings(usage={"prompt_tokens": float("nan")}))
                                                 .encode()), OK, check=_usage(0)),
    Answer("usage-huge", "usage", lambda c: Reply(200, embeddings(usage={"prompt_tokens": 1e300})), OK,
           check=_usage(0)),
    Answer("usage-bool", "usage", lambda c: Reply(200, embeddings(usage={"prompt_tokens": True})), OK,
           check=_usage(0)),
    Answer("usage-not-object", "usage", lambda c: Reply(200, embeddings(usage="lots")), OK, check=_usage(0)),
    Answer("usage-absent", "usage", lambda c: Reply(200, embeddings(usage="absent")), OK, check=_usage(0)),
    Answer("usage-total-only-bad", "usage",
           lambda c: Reply(200, embeddings(usage={"prompt_tokens": 5, "total_tokens": -1})), OK, check=_usage(5)),
]


# -- reranker: the same client, answers of another shape -------------------------------------------
def results(scores: list[Any], indices: list[Any] | None = None, usage: Any = "default") -> dict[str, Any]:
    indices = list(range(len(scores))) if indices is None else indices
    body: dict[str, Any] = {"results": [{"index": i, "relevance_score": s} for i, s in zip(indices, scores)]}
    if usage == "default":
        usage = {"prompt_tokens": 9, "total_tokens": 9}
    if usage != "absent":
        body["usage"] = usage
    return body


GOOD_SCORES = [0.25, 0.5, 0.75]


def _scores_good(result: Any, model: Any) -> None:
    np.testing.assert_allclose(result, GOOD_SCORES, atol=1e-6)


def _rerank_usage(prompt: int) -> Callable[[Any, Any], None]:
    def check(result: Any, model: Any) -> None:
        _scores_good(result, model)
        assert model.usage.prompt_tokens == prompt and model.usage.total_tokens >= 0, model.usage
    return check


RERANK_CASES: list[Answer] = [
    Answer("gzip-ok", "encoding", lambda c: _encoded("gzip", json.dumps(results(GOOD_SCORES)).encode()), OK,
           check=_scores_good),
    Answer("deflate-ok", "encoding", lambda c: _encoded("deflate", json.dumps(results(GOOD_SCORES)).encode()), OK,
           check=_scores_good),
    Answer("gzip-corrupt", "encoding",
           lambda c: Reply(200, body=b"junk" * 8, headers={"Content-Encoding": "gzip"}), RemoteResponseError),
    Answer("deep-nesting", "huge/deep", lambda c: Reply(200, body=b"[" * 100_000), RemoteResponseError),
    Answer("redirect", "redirect", lambda c: Reply(302, body=b"", headers={"Location": c.other.base_url + "/rerank"}),
           RemoteError, "redirects are not followed"),
    Answer("html-200-page", "status/body", lambda c: Reply(200, body=HTML_502), RemoteResponseError, "not JSON"),
    Answer("error-with-200", "status/body", lambda c: Reply(200, {"error": {"message": "no capacity"}}),
           RemoteResponseError, "body is an error: no capacity"),
    Answer("fewer-results", "count/index", lambda c: Reply(200, results(GOOD_SCORES[:2])), RemoteResponseError,
           "sent 3 input(s) but got 2"),
    Answer("duplicate-index", "count/index", lambda c: Reply(200, results(GOOD_SCORES, [0, 0, 2])),
           RemoteResponseError, "indices [0, 0, 2]"),
    Answer("top-n-order", "count/index", lambda c: Reply(200, results(GOOD_SCORES[::-1], [2, 1, 0])), OK,
           check=_scores_good),
    Answer("score-string", "score", lambda c: Reply(200, results([0.1, "0.9", 0.3])), RemoteResponseError,
           "no numeric 'relevance_score' (got str '0.9'", index=1),
    Answer("score-bool", "score", lambda c: Reply(200, results([0.1, 0.2, True])), RemoteResponseError,
           "(got bool True", index=2),
    Answer("score-null", "score", lambda c: Reply(200, results([None, 0.2, 0.3])), RemoteResponseError,
           "(got NoneType", index=0),
    Answer("score-nan", "score", lambda c: Reply(200, body=json.dumps(results([0.1, float("nan"), 0.3])).encode()),
           RemoteResponseError, "no numeric", index=1),
    Answer("score-inf", "score", lambda c: Reply(200, body=json.dumps(results([float("inf"), 0.2, 0.3])).encode()),
           RemoteResponseError, "no numeric", index=0),
    Answer("score-1e39", "score", lambda c: Reply(200, results([0.1, 0.2, 1e39])), RemoteResponseError,
           "float32 range", index=2),
    Answer("score-10e400", "score", lambda c: Reply(200, results([0.1, 10**400, 0.3])), RemoteResponseError,
           "no numeric", index=1),
    Answer("usage-negative", "usage", lambda c: Reply(200, results(GOOD_SCORES, usage={"prompt_tokens": -9})), OK,
           check=_rerank_usage(0)),
    Answer("usage-string", "usage", lambda c: Reply(200, results(GOOD_SCORES, usage={"prompt_tokens": "9"})), OK,
           check=_rerank_usage(0)),
]
