"""The two-stage index corpus: each case one row (an id, a payload, a vector or a query), and what the
retrieval docs promise for it (see test_two_stage_corpus.py).

A row case is placed after one valid row. ``expect`` is ``OK`` (stored; it comes back from a search
with the id and payload ``returns``) or a substring of the ``InputError`` (index 1, nothing stored, no
forward pass). Query cases go to ``search_vector``; ``OK`` there means hits come back.
"""

from __future__ import annotations

import datetime
import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

OK = None
SAME = object()  # ``returns``: the value given comes back unchanged
U = "0b7c8a52-4f5e-4d0c-9d3c-0a4c7d1e2f30"
S = "\ud800"  # a lone surrogate: not encodable as UTF-8


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    value: Any  # the id, payload, vector row or query vector
    expect: str | None
    returns: Any = SAME  # for OK rows: what the id / payload reads back as


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


def _cycle() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


ID_CASES = [
    Case("int", "ids", 7, OK),
    Case("zero", "ids", 0, OK),
    Case("negative-int", "ids", -5, OK),
    Case("int64-max", "ids", 2**63 - 1, OK),
    Case("numpy-int", "ids", np.int64(12), OK, 12),
    Case("uuid-string", "ids", U, OK),
    Case("uuid-object", "ids", uuid.UUID(U), OK, U),
    Case("empty-string", "ids", "", OK),
    Case("nul-inside", "ids", "a\0b", OK),
    Case("unicode-nfc", "ids", "caf\u00e9", OK),
    Case("unicode-nfd", "ids", "cafe\u0301", OK),
    Case("emoji-rtl", "ids", "\U0001f600\u05d0\u05d1", OK),
    Case("huge-string", "ids", "x" * 100_000, OK),
    Case("digit-string", "ids", "7", OK),
    Case("bool", "ids", True, "not booleans"),
    Case("numpy-bool", "ids", np.bool_(True), "not booleans"),
    Case("float", "ids", 1.5, "got float"),
    Case("float-integral", "ids", 2.0, "got float"),
    Case("none", "ids", None, "got NoneType"),
    Case("bytes", "ids", b"abc", "got bytes"),
    Case("tuple", "ids", (1, 2), "got tuple"),
    Case("int-2^64", "ids", 2**64, "outside the signed 64-bit range"),
    Case("int-below-int64", "ids", -(2**63) - 1, "outside the signed 64-bit range"),
    Case("surrogate", "ids", "id" + S, "lone surrogate"),
]

PAYLOAD_CASES = [
    Case("numpy-float32", "payloads", {"score": np.float32(0.5)}, OK, {"score": 0.5}),
    Case("numpy-int64", "payloads", {"n": np.int64(3)}, OK, {"n": 3}),
    Case("numpy-bool", "payloads", {"b": np.bool_(False)}, OK, {"b": False}),
    Case("numpy-array", "payloads", {"m": np.arange(6).reshape(2, 3)}, OK, {"m": [[0, 1, 2], [3, 4, 5]]}),
    Case("numpy-nested", "payloads", {"a": [{"x": np.float64(1.25)}]}, OK, {"a": [{"x": 1.25}]}),
    Case("tuple", "payloads", {"t": (1, "a")}, OK, {"t": [1, "a"]}),
    Case("none-payload", "payloads", None, OK, {}),
    Case("empty", "payloads", {}, OK),
    Case("unicode", "payloads", {"t\u00e9xt": "\u4e2d\u6587 \U0001f600"}, OK),
    Case("depth-30", "payloads", _deep(30), OK),
    Case("huge-string", "payloads", {"text": "y" * 2_000_000}, OK),
    Case("dotted-key", "payloads", {"a.b": 1}, OK),
    Case("nan", "payloads", {"x": math.nan}, "no NaN or infinity"),
    Case("numpy-inf", "payloads", {"x": np.float32("inf")}, "no NaN or infinity"),
    Case("set", "payloads", {"tags": {"a"}}, "is a set"),
    Case("bytes", "payloads", {"raw": b"\x00"}, "is a bytes"),
    Case("datetime", "payloads", {"when": datetime.datetime(2026, 1, 1)}, "is a datetime"),
    Case("object", "payloads", {"o": object()}, "is a object"),
    Case("int-key", "payloads", {1: "a"}, "keys must be strings"),
    Case("surrogate-key", "payloads", {"k" + S: 1}, "lone surrogate"),
    Case("surrogate-value", "payloads", {"k": ["ok", "v" + S]}, "payload['k'][1]"),
    Case("big-int", "payloads", {"n": 2**70}, "outside the signed 64-bit range"),
    Case("depth-40", "payloads", _deep(40), "nested more than"),
    Case("cycle", "payloads", _cycle(), "nested more than"),
    Case("not-a-mapping", "payloads", ["a", "b"], "must be a mapping"),
    Case("reserved-id-key", "payloads", {"qwen3_vl_rag_id": "spoof"}, "'qwen3_vl_rag_id' is reserved"),
    Case("foreign-space", "payloads", {"embedding_space": "other|qwen3-vl-chat|64"}, "'embedding_space' is reserved"),
]


def _vector(fill: float = 1.0, dimension: int = 64) -> np.ndarray:
    return np.full(dimension, fill, dtype=np.float32)


def _with(index: int, value: float, base: np.ndarray | None = None) -> np.ndarray:
    vector = _vector() if base is None else base.copy()
    vector[index] = value
    return vector


def _zero_prefix() -> np.ndarray:
    vector = _vector()
    vector[:32] = 0
    return vector


VECTOR_CASES = [
    Case("tiny-values", "vectors", _vector(1e-30), OK),
    Case("huge-values", "vectors", _vector(1e30), OK),
    Case("negative", "vectors", _vector(-2.0), OK),
    Case("nan", "vectors", _with(3, math.nan), "not finite"),
    Case("inf", "vectors", _with(60, math.inf), "not finite"),
    Case("zero", "vectors", _vector(0.0), "its vector is zero"),
    Case("zero-coarse-prefix", "vectors", _zero_prefix(), "(the coarse vector) are all zero"),
]

QUERY_CASES = [
    Case("unit", "queries", _vector(0.125), OK),
    Case("tiny", "queries", _vector(1e-30), OK),
    Case("zero", "queries", _vector(0.0), "the query vector is zero"),
    Case("zero-coarse-prefix", "queries", _zero_prefix(), "(its coarse vector) are all zero"),
    Case("nan", "queries", _with(0, math.nan), "NaN or infinity"),
    Case("wrong-size", "queries", _vector(1.0, 48), "must be 64 finite values, got 48"),
    Case("empty", "queries", np.zeros(0, np.float32), "got 0"),
]

CASES = ID_CASES + PAYLOAD_CASES + VECTOR_CASES + QUERY_CASES
