"""Items → JSON content parts, and JSON answers → checked numpy arrays (shared by embedder and reranker).

Images are opened and resized on the client with ``core.media.load_image`` (the official smart_resize)
and sent as PNG data URIs, so the server's processor gets exactly the pixels the local path uses (its own
resize is then a no-op: both sides are multiples of 32 inside the pixel bounds). Every item is validated
and every image loaded before the first request, and errors name the item's index.
"""

from __future__ import annotations

import base64
import io
import math
import mimetypes
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, MediaError
from ..formats.defaults import EMPTY_ITEM_TEXT
from ..inputs import Item
from ..media import MediaOptions, load_image
from .errors import RemoteResponseError

if TYPE_CHECKING:
    from PIL import Image as PILImage


def png_data_uri(image: PILImage.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _video_part(video: Any, index: int) -> dict[str, Any]:
    """A video file as a data URI (the server decodes and samples it; see RemoteEmbedder's docstring)."""
    if isinstance(video, (list, tuple)):
        raise InputError(index, "a video given as a list of frames cannot be sent to a remote server; "
                                "pass a video file, or embed it with the local Qwen3VLEmbedder")
    text = str(video)
    if not text.strip():
        raise InputError(index, "the video source is an empty string")
    if text.startswith(("http://", "https://", "data:")):
        return {"type": "video_url", "video_url": {"url": text}}
    path = Path(text[7:] if text.startswith("file://") else text)
    if not path.is_file():
        raise InputError(index, f"video file not found: {text}")
    mime = mimetypes.guess_type(path.name)[0] or "video/mp4"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"type": "video_url", "video_url": {"url": f"data:{mime};base64,{data}"}}


def content_parts(item: Item, index: int, media: MediaOptions) -> list[dict[str, Any]]:
    """Videos, then images, then texts (the official order); ``NULL`` for an empty item."""
    parts = [_video_part(v, index) for v in item.videos]
    for image in item.images:
        try:
            resized = load_image(image, media)
        except MediaError as exc:
            raise InputError(index, str(exc)) from None
        parts.append({"type": "image_url", "image_url": {"url": png_data_uri(resized)}})
    parts += [{"type": "text", "text": t} for t in item.texts]
    return parts or [{"type": "text", "text": EMPTY_ITEM_TEXT}]


def plain_text(item: Item, index: int, protocol_hint: str) -> str:
    """The text of a text-only item; media is an error naming the item."""
    if item.has_media:
        kinds = " and ".join(k for k, v in (("an image", item.images), ("a video", item.videos)) if v)
        raise InputError(index, f"item has {kinds}, but {protocol_hint} sends text only")
    return "".join(item.texts)


# -- answers ------------------------------------------------------------------------------------
def _fail(endpoint: str, message: str, index: int | None = None) -> RemoteResponseError:
    where = f"item {index}: " if index is not None else ""
    return RemoteResponseError(f"{endpoint}: {where}{message}", endpoint=endpoint, status=200, index=index)


_NUMBERS = (int, float)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _vector(value: Any, endpoint: str, item: int) -> np.ndarray:
    """One embedding as float64: a flat list of JSON numbers, or base64 little-endian float32."""
    if isinstance(value, str):  # encoding_format=base64: little-endian float32
        try:
            raw = base64.b64decode(value, validate=True)
        except (ValueError, TypeError) as exc:
            raise _fail(endpoint, f"the embedding is not valid base64 ({exc})", item) from None
        if not raw or len(raw) % 4:
            raise _fail(endpoint, f"the embedding is not base64 float32 ({len(raw)} bytes)", item)
        return np.frombuffer(raw, dtype="<f4").astype(np.float64)
    if not isinstance(value, list) or not value:
        raise _fail(endpoint, f"the embedding is not a list of numbers (got {_kind(value)})", item)
    kinds = set(map(type, value))
    if not kinds <= {int, float}:  # bool is not int here: type() is exact; strings are never parsed
        bad = next(v for v in value if type(v) not in _NUMBERS)
        raise _fail(endpoint, f"the embedding holds {_kind(bad)} where numbers belong", item)
    try:
        return np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float64 (JSON has no limit)
        raise _fail(endpoint, "its embedding contains NaN or infinity", item) from None


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _indexed(entries: Any, rows: Sequence[int], endpoint: str, what: str) -> list[dict[str, Any]]:
    """Entries sorted by their ``index``, which must be exactly 0..len(rows)-1 (each once)."""
    expected = len(rows)
    if not isinstance(entries, list):
        raise _fail(endpoint, f"the answer has no '{what}' list")
    if len(entries) != expected:
        raise _fail(endpoint, f"sent {expected} input(s) but got {len(entries)} result(s); "
                              "refusing to guess which belongs to which")
    indices = []
    for entry in entries:
        index = entry.get("index") if isinstance(entry, dict) else None
        if not isinstance(index, int) or isinstance(index, bool):
            raise _fail(endpoint, f"a result in '{what}' has no integer 'index' (got {_kind(index)})")
        indices.append(index)
    if sorted(indices) != list(range(expected)):
        shown = sorted(indices) if expected <= 20 else f"{len(set(indices))} distinct of {expected}"
        raise _fail(endpoint, f"result indices {shown} do not match the {expected} input(s) "
                              "(each of 0..n-1 exactly once)")
    return sorted(entries, key=lambda e: e["index"])


def parse_embeddings(body: Any, rows: Sequence[int], endpoint: str) -> np.ndarray:
    """``{"data": [{"index", "embedding"}]}`` → float64 (len(rows), D), in index order; count-checked.

    ``rows`` are the caller's indices of the request's inputs: errors name them. Every vector is a flat
    list of finite numbers, all of one length; whether that length and the norms are right is the
    embedder's check (it knows the model's size and the requested ``dimensions``)."""
    if not isinstance(body, dict):
        raise _fail(endpoint, f"expected a JSON object, got {type(body).__name__}")
    entries = _indexed(body.get("data"), rows, endpoint, "data")
    vectors = [_vector(e.get("embedding"), endpoint, rows[e["index"]]) for e in entries]
    common = Counter(v.shape[0] for v in vectors).most_common(1)[0][0]  # the odd one out is named
    for position, vector in enumerate(vectors):
        if vector.shape[0] != common:
            raise _fail(endpoint, f"its embedding has {vector.shape[0]} values, the others of the answer "
                                  f"{common}", rows[position])
        if not np.isfinite(vector).all():
            raise _fail(endpoint, "its embedding contains NaN or infinity", rows[position])
    return np.stack(vectors)


def parse_scores(body: Any, rows: Sequence[int], endpoint: str) -> np.ndarray:
    """``/rerank`` (``results``/``relevance_score``) or ``/score`` (``data``/``score``) → float32
    (len(rows),); ``rows`` are the caller's indices of the pairs, which errors name."""
    if not isinstance(body, dict):
        raise _fail(endpoint, f"expected a JSON object, got {type(body).__name__}")
    key, field_name = ("results", "relevance_score") if "results" in body else ("data", "score")
    entries = _indexed(body.get(key), rows, endpoint, key)
    scores = []
    for entry in entries:
        value = entry.get(field_name)
        try:
            number = float(value) if isinstance(value, _NUMBERS) and not isinstance(value, bool) else float("nan")
        except OverflowError:
            number = float("inf")
        if not math.isfinite(number) or abs(number) > _FLOAT32_MAX:
            raise _fail(endpoint, f"the result has no numeric '{field_name}' (got {_kind(value)}; finite, "
                                  "float32 range)", rows[entry["index"]])
        scores.append(number)
    return np.asarray(scores, dtype=np.float32)
