"""What both framework adapters need and core does not: default model ids and the rule for which
framework metadata keys carry an image or a video.

Both adapters (LlamaIndex nodes, LangChain documents) use these rules, so a document with an image
means the same thing in either framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from qwen3_vl_rag.core.inputs import VIDEO_FILE_SUFFIXES

DEFAULT_EMBEDDING_MODEL = "Qwen/Qwen3-VL-Embedding-2B"
DEFAULT_RERANK_MODEL = "Qwen/Qwen3-VL-Reranker-2B"
BOUNDARY_MODEL = "Qwen/Qwen3-Embedding-0.6B"  # the default semantic-chunking boundary model

IMAGE_METADATA_KEYS = ("image", "image_path", "image_url")  # base64 / data URI, path, URL
VIDEO_METADATA_KEYS = ("video", "video_path", "video_url")
IMAGE_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def _suffix(value: Any) -> str:
    return PurePath(str(value).split("?")[0]).suffix.lower()


def media_from_metadata(metadata: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """(image source or None, video source or None) named by ``metadata``.

    Explicit keys win (``image``, ``image_path``, ``image_url``; ``video``, ``video_path``,
    ``video_url``); ``file_path`` counts only when its extension is an image's or a video's, as
    LlamaIndex's image readers and ColPali rerankers set it.
    """
    metadata = metadata or {}
    image = next((metadata[k] for k in IMAGE_METADATA_KEYS if metadata.get(k)), None)
    video = next((metadata[k] for k in VIDEO_METADATA_KEYS if metadata.get(k)), None)
    file_path = metadata.get("file_path")
    if file_path and image is None and video is None:
        if _suffix(file_path) in IMAGE_FILE_SUFFIXES:
            image = str(file_path)
        elif _suffix(file_path) in VIDEO_FILE_SUFFIXES:
            video = str(file_path)
    return image, video


def document_item(text: str | None, image: Any = None, video: Any = None) -> Any:
    """A plain string when there is no media, else a dict item with the text alongside."""
    if image is None and video is None:
        return text or ""
    item: dict[str, Any] = {}
    if text:
        item["text"] = text
    if image is not None:
        item["image"] = image
    if video is not None:
        item["video"] = video
    return item
