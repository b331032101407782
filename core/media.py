"""Load and resize images and videos exactly as the official Qwen3-VL code does (qwen-vl-utils).

Fixes over the official path: data URIs, raw bytes and base64 strings are accepted; URLs are fetched
only when the caller opts in; every failure is a ``MediaError`` with a reason (the caller adds the
item's index); ``total_pixels`` bounds video files too, not only frame lists.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .errors import MediaError

if TYPE_CHECKING:
    from PIL import Image as PILImage

_BASE64_RE = re.compile(r"^[A-Za-z0-9+/=\s]+$")
_URL_TIMEOUT_S = 30


@dataclass(frozen=True)
class MediaOptions:
    """Resolution and sampling settings shared by every item of a call."""

    min_pixels: int
    max_pixels: int
    total_pixels: int
    fps: float
    num_frames: int
    max_frames: int
    allow_urls: bool = False


@dataclass
class LoadedVideo:
    """Frames (T, C, H, W, float 0-255, already resized) and the timing the prompt needs."""

    frames: Any
    fps: float
    frame_indices: list[int]


def _describe(source: Any) -> str:
    text = str(source)
    return text if len(text) <= 80 else text[:77] + "..."


def _open_bytes(data: bytes, what: str) -> PILImage.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except UnidentifiedImageError as exc:
        raise MediaError(f"{what} is not an image (unknown format)") from exc
    except (OSError, ValueError) as exc:
        raise MediaError(f"{what} is a corrupt image ({exc})") from exc
    return image


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a name too long to be a path
        return False


def _read_path(path: Path) -> bytes:
    if not _exists(path):
        raise MediaError(f"file not found: {_describe(path)}")
    if path.is_dir():
        raise MediaError(f"{_describe(path)} is a directory, not a file")
    return path.read_bytes()


def _fetch_url(url: str, allow_urls: bool) -> bytes:
    if not allow_urls:
        raise MediaError(f"URL {_describe(url)} not fetched: remote media is off; pass allow_urls=True to enable it")
    try:
        with urllib.request.urlopen(url, timeout=_URL_TIMEOUT_S) as response:  # noqa: S310 (opt-in)
            data: bytes = response.read()
            return data
    except OSError as exc:
        raise MediaError(f"could not fetch {_describe(url)} ({exc})") from exc


def open_image(source: Any, allow_urls: bool = False) -> PILImage.Image:
    """Decode an image source to a PIL image (not yet resized)."""
    from PIL import Image

    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        if source.ndim != 3 or source.shape[2] not in (3, 4) or source.dtype != np.uint8:
            raise MediaError(f"an image array must be HxWx3 or HxWx4 uint8, got {source.shape} {source.dtype}")
        return Image.fromarray(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open_bytes(bytes(source), "the image bytes")
    if isinstance(source, io.IOBase):
        return _open_bytes(source.read(), "the image stream")
    if isinstance(source, Path):
        return _open_bytes(_read_path(source), _describe(source))
    if not isinstance(source, str):
        raise MediaError(f"unsupported image type {type(source).__name__}")
    if source.startswith("data:"):
        header, _, payload = source.partition(",")
        if ";base64" not in header or not payload:
            raise MediaError("a data URI must be base64 encoded (data:image/...;base64,...)")
        return _open_bytes(_b64decode(payload), "the data URI")
    if source.startswith(("http://", "https://")):
        return _open_bytes(_fetch_url(source, allow_urls), _describe(source))
    path = Path(source[7:] if source.startswith("file://") else source)
    if len(source) >= 64 and _BASE64_RE.match(source) and not _exists(path):
        return _open_bytes(_b64decode(source), "the base64 string")
    return _open_bytes(_read_path(path), _describe(source))


def _b64decode(payload: str) -> bytes:
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise MediaError(f"invalid base64 data ({exc})") from exc


def load_image(source: Any, options: MediaOptions) -> PILImage.Image:
    """Open, convert to RGB (alpha composited on white) and resize with qwen-vl-utils' smart_resize."""
    from qwen_vl_utils import fetch_image

    image = open_image(source, options.allow_urls)
    try:
        return cast("PILImage.Image", fetch_image(
            {"image": image, "min_pixels": options.min_pixels, "max_pixels": options.max_pixels}, image_patch_size=16
        ))
    except ValueError as exc:  # aspect ratio over 200, sizes out of range
        raise MediaError(f"image cannot be resized: {exc}") from exc


def sample_frame_list(frames: list[Any], num_frames: int, max_frames: int) -> list[Any]:
    """The official frame-list sampling: linspace to ``num_frames`` indices, then at most ``max_frames``."""
    indices = np.linspace(0, len(frames) - 1, num_frames, dtype=int).tolist()
    return [frames[i] for i in indices][:max_frames]


def load_video(
    source: Any, options: MediaOptions, fps: float | None = None, max_frames: int | None = None
) -> LoadedVideo:
    """Load a video file or a frame list into resized frames, bounded by ``total_pixels`` either way."""
    from qwen_vl_utils import fetch_video

    if isinstance(source, (list, tuple)):
        frames = [open_image(frame, options.allow_urls) for frame in source]
        sampled = sample_frame_list(frames, options.num_frames, options.max_frames)
        request = {"video": sampled, "total_pixels": options.total_pixels}
    else:
        request = {
            "video": _video_location(source, options.allow_urls),
            "fps": fps or options.fps,
            "max_frames": max_frames or options.max_frames,
            "total_pixels": options.total_pixels,  # the official code drops this for files
        }
    try:
        video, metadata = fetch_video(request, image_patch_size=16, return_video_metadata=True)
    except MediaError:
        raise
    except Exception as exc:  # decoders raise many types; all mean "this video cannot be read"
        raise MediaError(f"video {_describe(source) if not isinstance(source, (list, tuple)) else '(frames)'} "
                         f"cannot be read ({type(exc).__name__}: {exc})") from exc
    if video.shape[0] == 0:
        raise MediaError("video has no frames")
    return LoadedVideo(frames=video, fps=float(metadata["fps"]), frame_indices=list(metadata["frames_indices"]))


def _video_location(source: Any, allow_urls: bool) -> str:
    text = str(source)
    if text.startswith(("http://", "https://")):
        if not allow_urls:
            raise MediaError(f"URL {_describe(text)} not fetched: remote media is off; pass allow_urls=True")
        return text
    path = Path(text[7:] if text.startswith("file://") else text)
    if not _exists(path):
        raise MediaError(f"video file not found: {_describe(path)}")
    if path.is_dir():
        raise MediaError(f"{_describe(path)} is a directory, not a video file")
    return "file://" + str(path.resolve())
