"""What a stored row may hold: ids Qdrant can key and payloads any store can keep as JSON (no Qdrant import).

Every check names the caller's index (``InputError``) and happens before anything is stored.

- ids: ``int`` (numpy ints too) in the signed 64-bit range, ``str`` (valid Unicode: no lone surrogates)
  or ``uuid.UUID`` (kept as its string). Non-negative ints are Qdrant point ids as they are; a string
  that parses as a UUID is that UUID; any other id maps to a UUID5. Two ids of one call that map to one
  point (``"7"`` and ``7`` do not; ``"0B7C...`` and ``"0b7c...`` do) are refused.
- payloads: a mapping with string keys; values ``None``, ``bool``, ``int`` (signed 64-bit), finite
  ``float``, ``str``, lists / tuples and mappings of those, at most ``MAX_DEPTH`` levels deep. numpy
  scalars and arrays become the equal Python values (``np.float32(0.5)`` -> ``0.5``); anything else
  (bytes, sets, dates, objects, NaN) is refused with the key's path.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError

INT64 = (-(2**63), 2**63)
MAX_DEPTH = 32  # Qdrant's server parses JSON to a nesting depth of 128; this leaves room for its envelope
UUID_NAMESPACE = "qwen3-vl-rag:"


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"it is not valid Unicode (a lone surrogate at position {exc.start})") from None


def caller_id(item_id: Any) -> int | str:
    """The JSON form of an id (what ``Hit.id`` gives back), or ``ValueError`` saying why it is not one."""
    if isinstance(item_id, (bool, np.bool_)):
        raise ValueError("ids must be ints or strings, not booleans")
    if isinstance(item_id, (int, np.integer)):
        value = int(item_id)
        if not INT64[0] <= value < INT64[1]:
            raise ValueError(f"integer id {value} is outside the signed 64-bit range Qdrant stores")
        return value
    if isinstance(item_id, uuid.UUID):
        return str(item_id)
    if isinstance(item_id, str):
        _check_text(item_id)
        return item_id
    raise ValueError(f"ids must be ints or strings, got {type(item_id).__name__} {item_id!r:.60}")


def point_id(item_id: Any) -> int | str:
    """Qdrant accepts unsigned ints and UUIDs; any other id (e.g. a LangChain string id) maps to a
    stable UUID5 and the original is kept in the payload."""
    value = caller_id(item_id)
    if isinstance(value, int) and value >= 0:
        return value
    text = str(value)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, UUID_NAMESPACE + text))


def check_ids(ids: Sequence[Any]) -> tuple[list[int | str], list[int | str]]:
    """(caller ids in JSON form, Qdrant point ids); ``InputError`` for a bad or repeated id."""
    values: list[int | str] = []
    points: list[int | str] = []
    seen: dict[int | str, int] = {}
    for index, item_id in enumerate(ids):
        try:
            value, point = caller_id(item_id), point_id(item_id)
        except ValueError as exc:
            raise InputError(index, f"bad id: {exc}") from None
        if point in seen:
            first = seen[point]
            same = values[first] == value
            raise InputError(index, f"id {value!r:.80} repeats the id of item {first}" + (
                "" if same else f" ({values[first]!r:.80}): both are stored as Qdrant point {point}"))
        seen[point] = index
        values.append(value)
        points.append(point)
    return values, points


def json_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """``payload`` with numpy values made Python; ``ValueError`` naming the first value JSON cannot hold."""
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise ValueError(f"payload must be a mapping or None, got {type(payload).__name__}")
    return _mapping(payload, "payload", 0)


def _mapping(value: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
    out = {}
    for key, inner in value.items():
        if not isinstance(key, str):
            raise ValueError(f"{path} has the key {key!r:.60} ({type(key).__name__}); payload keys must be strings")
        try:
            _check_text(key)
        except ValueError as exc:
            raise ValueError(f"{path} has a key that {exc}") from None
        out[key] = _value(inner, f"{path}[{key!r:.60}]", depth + 1)
    return out


def _value(value: Any, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"{path} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64[0] <= value < INT64[1]:
            raise ValueError(f"{path} = {value} is outside the signed 64-bit range a payload integer can hold")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} = {value}: JSON has no NaN or infinity")
        return value
    if isinstance(value, str):
        try:
            _check_text(value)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        return value
    if isinstance(value, (list, tuple)):
        return [_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return _mapping(value, path, depth)
    raise ValueError(f"{path} is a {type(value).__name__}, which JSON cannot hold (use str, int, float, bool, "
                     "None, lists and dicts)")


def payload_bytes(payload: Mapping[str, Any]) -> int:
    """Length of the payload as JSON (to keep each write request under the server's size limit)."""
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def float_vectors(values: Any, what: str = "the vectors") -> np.ndarray:
    """``values`` as float32, refusing integer or boolean arrays: the codes of ``precision="int8"`` /
    ``"binary"`` (and kin) are not vectors, and a cast would store them as if they were."""
    array = np.asarray(values)
    if array.dtype.kind not in "f":
        raise TypeError(f"{what} must be floats, got {array.dtype}: the index stores float vectors "
                        "(embed with precision='float32' or 'float16'; integer and binary codes cannot be "
                        "rescored by cosine)")
    return array.astype(np.float32, copy=False)
