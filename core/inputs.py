"""Turn what users pass (strings, images, dicts of text/image/video) into validated ``Item`` objects.

Validation here is structural and cheap; media files are opened later (``media.py``). Every error
names the item's index.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .documents import PdfPage, secret_text
from .errors import InputError

# Characters kept per allowed token by ``cap_characters``. English averages ~4 characters per Qwen3 token
# and code or CJK fewer, so 16 leaves a 4x margin; when a cut text still yields fewer tokens than the
# budget, ``tokenize_capped`` retries at ``MAX_CHARS_PER_TOKEN`` (the longest Qwen3 token: 128
# characters of spaces), where the cut can no longer change the kept tokens.
SAFE_CHARS_PER_TOKEN = 16
MAX_CHARS_PER_TOKEN = 128

ITEM_KEYS = ("text", "image", "video", "instruction", "fps", "max_frames", "pdf", "page", "password")
VIDEO_FILE_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".flv", ".wmv", ".mpeg", ".mpg", ".3gp")

# An image: a path, a file:// or data: URI, an http(s) URL (opt-in), a base64 string, raw bytes, a
# file-like object, a PIL image or an HxWx3 uint8 array.
ImageSource = Any
VideoSource = str | Path | Sequence[Any]
ItemInput = str | dict[str, Any] | Any


@dataclass(frozen=True)
class Item:
    """One input to embed or score: its texts, images and videos, in the caller's terms."""

    texts: tuple[str, ...] = ()
    images: tuple[ImageSource, ...] = ()
    videos: tuple[VideoSource, ...] = ()
    instruction: str | None = None
    fps: float | None = None
    max_frames: int | None = None

    @property
    def has_media(self) -> bool:
        return bool(self.images or self.videos)


def _is_image_object(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview, io.IOBase, Path)):
        return True
    module = type(value).__module__
    return module.startswith("PIL.") or (module == "numpy" and getattr(value, "ndim", 0) == 3)


def _is_video_file(value: Any) -> bool:
    if isinstance(value, Path):
        return True
    return isinstance(value, str) and value.split("?")[0].lower().endswith(VIDEO_FILE_SUFFIXES)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_text(index: int, text: str, what: str = "text") -> str:
    """``text`` if it can be encoded as UTF-8, else an ``InputError`` naming the item and the position.

    Lone surrogates (``"a\\ud800b"``, e.g. from ``json.loads`` of a bad ``\\u`` escape or a broken
    file decode) would otherwise fail inside the tokenizer with a ``TypeError`` and no index.
    """
    if not isinstance(text, str):
        raise InputError(index, f"{what} must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(index, f"{what} is not valid Unicode: {exc.reason} ({text[exc.start]!r} at character "
                                f"{exc.start}); decode the source with errors='replace' or fix it") from None
    return text


def check_instruction(instruction: str | None) -> str | None:
    """A call's ``instruction`` argument (no item to name): a ``ValueError`` unless None or valid text."""
    if instruction is None:
        return None
    try:
        return check_text(-1, instruction, "instruction")
    except InputError as exc:
        raise ValueError(f"instruction: {exc.reason}") from None


def cap_characters(text: str, max_tokens: int, chars_per_token: int = SAFE_CHARS_PER_TOKEN) -> str:
    """The first ``(max_tokens + 1) * chars_per_token`` characters of ``text``: enough for the tokens
    that truncation keeps, so a 1M-character text is not tokenized whole only to be cut to ``max_tokens``.

    A cut text that yields fewer than ``max_tokens`` tokens was cut too early: tokenize it again with
    ``chars_per_token=MAX_CHARS_PER_TOKEN`` (``tokenize_capped`` does both steps).
    """
    if max_tokens < 0:
        raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
    limit = (max_tokens + 1) * chars_per_token
    return text if len(text) <= limit else text[:limit]


def cap_item_texts(item: Item, max_tokens: int) -> Item:
    """``item`` with each text cut by ``cap_characters`` (the same object when nothing was cut)."""
    texts = tuple(cap_characters(t, max_tokens) for t in item.texts)
    if all(a is b for a, b in zip(texts, item.texts)):
        return item
    return dataclasses.replace(item, texts=texts)


def tokenize_capped(tokenize: Callable[[str], list[int]], text: str, max_tokens: int) -> list[int]:
    """``tokenize(text)[:max_tokens]`` without tokenizing more of a huge text than truncation keeps."""
    for chars_per_token in (SAFE_CHARS_PER_TOKEN, MAX_CHARS_PER_TOKEN):
        capped = cap_characters(text, max_tokens, chars_per_token)
        ids = tokenize(capped)
        if capped is text or len(ids) > max_tokens:
            return list(ids[:max_tokens])
    return list(tokenize(text)[:max_tokens])


def _texts(value: Any, index: int) -> tuple[str, ...]:
    texts = _as_list(value)
    for text in texts:
        if not isinstance(text, str):
            raise InputError(index, f"'text' must be a string or a list of strings, got {type(text).__name__}")
        check_text(index, text, "'text'")
    return tuple(t for t in texts if t)  # empty strings add nothing, as in the official code


def _images(value: Any, index: int) -> tuple[ImageSource, ...]:
    images = _as_list(value)
    for image in images:
        if not (isinstance(image, str) or _is_image_object(image)):
            raise InputError(index, f"'image' must be a path, URI, bytes or PIL image, got {type(image).__name__}")
    return tuple(images)


def _videos(value: Any, index: int) -> tuple[VideoSource, ...]:
    """A file, a list of frames, or a list of videos (files or frame lists)."""
    if isinstance(value, (str, Path)):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise InputError(index, f"'video' must be a file path or a list of frames, got {type(value).__name__}")
    if not value:
        raise InputError(index, "'video' has no frames")
    if all(isinstance(v, (list, tuple)) or _is_video_file(v) for v in value):
        videos = tuple(value)
    elif any(isinstance(v, (list, tuple)) or (isinstance(v, str) and _is_video_file(v)) for v in value):
        raise InputError(index, "'video' mixes video files or frame lists with single frames; pass a list of "
                                "videos (files or frame lists) or one list of frames")
    else:
        videos = (tuple(value),)
    for video in videos:
        if isinstance(video, (list, tuple)):
            if not video:
                raise InputError(index, "'video' has no frames")
            for frame in video:
                if not (isinstance(frame, str) or _is_image_object(frame)):
                    raise InputError(index, f"a video frame must be an image, got {type(frame).__name__}")
    return videos


def _pdf_page(raw: dict[str, Any], index: int) -> PdfPage | None:
    """The page a dict names with ``pdf`` + ``page`` (1-based) + optional ``password``, checked structurally
    (the document itself is opened when the call probes its media)."""
    source = raw.get("pdf")
    if source is None:
        stray = sorted({"page", "password"} & set(raw))
        if stray:
            raise InputError(index, f"{stray} only go with 'pdf' (a PDF page is {{'pdf': source, 'page': n}})")
        return None
    if not isinstance(source, (str, Path, bytes, bytearray, memoryview, io.IOBase)):
        raise InputError(index, "'pdf' must be a path, URI, bytes or a binary file object, "
                                f"got {type(source).__name__}")
    page = raw.get("page")
    if page is None:
        raise InputError(index, "a 'pdf' item needs its 'page' (1-based); qwen3_vl_rag.core.documents.pdf_pages() "
                                "lists every page of a PDF")
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise InputError(index, f"'page' must be an integer >= 1 (pages are numbered from 1, as PDF viewers do), "
                                f"got {page!r}")
    try:
        password = secret_text(raw.get("password"))
    except TypeError as exc:
        raise InputError(index, f"'password': {exc}") from None
    return PdfPage(source, page, password)


def parse_item(raw: ItemInput, index: int) -> Item:
    """Validate one user input and return it as an ``Item``."""
    if isinstance(raw, str):
        return Item(texts=(check_text(index, raw),) if raw else ())
    if _is_image_object(raw):
        return Item(images=(raw,))
    if not isinstance(raw, dict):
        raise InputError(index, f"expected a string, an image or a dict, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(ITEM_KEYS))
    if unknown:
        raise InputError(index, f"unknown key(s) {unknown}; allowed keys are {list(ITEM_KEYS)}")
    instruction = raw.get("instruction")
    if instruction is not None and not isinstance(instruction, str):
        raise InputError(index, f"'instruction' must be a string, got {type(instruction).__name__}")
    if instruction is not None:
        check_text(index, instruction, "'instruction'")
    fps = raw.get("fps")
    if fps is not None and (not isinstance(fps, (int, float)) or isinstance(fps, bool) or fps <= 0):
        raise InputError(index, f"'fps' must be a positive number, got {fps!r}")
    max_frames = raw.get("max_frames")
    if max_frames is not None and (not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 2):
        raise InputError(index, f"'max_frames' must be an integer >= 2, got {max_frames!r}")
    page = _pdf_page(raw, index)  # a PDF page is one more image, after the item's 'image' ones
    pages = (page,) if page is not None else ()
    return Item(
        texts=_texts(raw["text"], index) if raw.get("text") is not None else (),
        images=(_images(raw["image"], index) if raw.get("image") is not None else ()) + pages,
        videos=_videos(raw["video"], index) if raw.get("video") is not None else (),
        instruction=instruction,
        fps=fps,
        max_frames=max_frames,
    )


def parse_items(raw_items: Sequence[ItemInput]) -> list[Item]:
    """Validate a whole call's inputs before any work starts."""
    if isinstance(raw_items, (str, dict)) or _is_image_object(raw_items):
        raise TypeError("pass a list of items (wrap a single item in a list)")
    return [parse_item(raw, i) for i, raw in enumerate(raw_items)]
