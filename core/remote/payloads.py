"""Items → JSON content parts, and JSON answers → checked numpy arrays (shared by embedder and reranker).

Images are opened and resized on the client with ``core.media.load_image`` (the official smart_resize)
and sent as PNG data URIs, so the server's processor gets exactly the pixels the local path uses (its own
resize is then a no-op: both sides are multiples of 32 inside the pixel bounds). Every item is validated
and every image loaded before the first request, and errors name the item's index.
"""

from __future__ import annotations

import base64
import io
import mimetypes
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
def _fail(endpoint: str, message: str) -> RemoteResponseError:
    return RemoteResponseError(f"{endpoint}: {message}", endpoint=endpoint, status=200)


def _vector(value: Any, endpoint: str, position: int) -> np.ndarray:
    if isinstance(value, str):  # encoding_format=base64: little-endian float32
        try:
            raw = base64.b64decode(value, validate=True)
        except (ValueError, TypeError) as exc:
            raise _fail(endpoint, f"embedding {position} is not valid base64 ({exc})") from None
        if not raw or len(raw) % 4:
            raise _fail(endpoint, f"embedding {position} is not base64 float32 ({len(raw)} bytes)")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not isinstance(value, list) or not value:
        raise _fail(endpoint, f"embedding {position} is not a list of numbers")
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise _fail(endpoint, f"embedding {position} is not a list of numbers") from None


def _indexed(entries: Any, expected: int, endpoint: str, what: str) -> list[dict[str, Any]]:
    """Entries sorted by their ``index``, which must be exactly 0..expected-1 (each once)."""
    if not isinstance(entries, list):
        raise _fail(endpoint, f"the answer has no '{what}' list")
    if len(entries) != expected:
        raise _fail(endpoint, f"sent {expected} input(s) but got {len(entries)} result(s); "
                              "refusing to guess which belongs to which")
    indices = []
    for entry in entries:
        index = entry.get("index") if isinstance(entry, dict) else None
        if not isinstance(index, int) or isinstance(index, bool):
            raise _fail(endpoint, f"a result in '{what}' has no integer 'index'")
        indices.append(index)
    if sorted(indices) != list(range(expected)):
        raise _fail(endpoint, f"result indices {sorted(indices)} do not match the {expected} input(s)")
    return sorted(entries, key=lambda e: e["index"])


def parse_embeddings(body: Any, expected: int, endpoint: str) -> np.ndarray:
    """``{"data": [{"index", "embedding"}]}`` → float32 (expected, D), in index order; count-checked."""
    if not isinstance(body, dict):
        raise _fail(endpoint, f"expected a JSON object, got {type(body).__name__}")
    entries = _indexed(body.get("data"), expected, endpoint, "data")
    vectors = [_vector(e.get("embedding"), endpoint, e["index"]) for e in entries]
    if len({v.shape[0] for v in vectors}) != 1:
        raise _fail(endpoint, f"embeddings have different lengths {sorted({v.shape[0] for v in vectors})}")
    matrix = np.stack(vectors)
    if not np.isfinite(matrix).all():
        raise _fail(endpoint, "an embedding contains NaN or infinity")
    return matrix


def parse_scores(body: Any, expected: int, endpoint: str) -> np.ndarray:
    """``/rerank`` (``results``/``relevance_score``) or ``/score`` (``data``/``score``) → float32 (expected,)."""
    if not isinstance(body, dict):
        raise _fail(endpoint, f"expected a JSON object, got {type(body).__name__}")
    key, field_name = ("results", "relevance_score") if "results" in body else ("data", "score")
    entries = _indexed(body.get(key), expected, endpoint, key)
    scores = []
    for entry in entries:
        value = entry.get(field_name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
            raise _fail(endpoint, f"result {entry['index']} has no numeric '{field_name}'")
        scores.append(float(value))
    return np.asarray(scores, dtype=np.float32)
