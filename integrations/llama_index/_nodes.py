"""LlamaIndex nodes and query bundles to core items: one rule for the embedding and the reranker.

A node carries media when it is an ``ImageNode`` with ``image`` (base64), ``image_path`` or
``image_url``; a ``Node``/``Document`` with an ``image_resource`` or ``video_resource``; or, failing
those, when its metadata names an image or video (:func:`qwen3_vl_rag.integrations._shared.media_from_metadata`,
the rule the LangChain adapter uses too). Such a node is embedded and scored as its media, jointly with
its text when it has text; every other node is its text.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, QueryBundle

from .._shared import document_item, media_from_metadata, page_from_metadata


def _resource_source(resource: Any, allow_data: bool = True) -> Any:
    """An image/video source the core accepts, from a LlamaIndex ``MediaResource`` (or None).

    Inline data is used for images only (the core reads videos from files or frame lists)."""
    if resource is None:
        return None
    if resource.data and allow_data:  # MediaResource keeps binary data base64-encoded
        return resource.data.decode("ascii") if isinstance(resource.data, bytes) else resource.data
    if resource.path is not None:
        return str(resource.path)
    if resource.url is not None:
        return str(resource.url)
    return None


def node_media(node: BaseNode) -> tuple[Any, Any]:
    """(image source or None, video source or None) carried by ``node``."""
    image = video = None
    if isinstance(node, ImageNode):
        image = node.image or node.image_path or node.image_url
    else:
        image = _resource_source(getattr(node, "image_resource", None))
        video = _resource_source(getattr(node, "video_resource", None), allow_data=False)
    if image is None and video is None:
        image, video = media_from_metadata(node.metadata)
    return image, video


def has_media(node: BaseNode) -> bool:
    return node_media(node) != (None, None) or page_from_metadata(node.metadata) is not None


def node_item(node: BaseNode, metadata_mode: MetadataMode = MetadataMode.EMBED) -> Any:
    """The core item for a node: its text (with metadata per ``metadata_mode``), or its media + text; a PDF
    page's node (``Qwen3PDFReader``) is the page image alone."""
    page = page_from_metadata(node.metadata)
    if page is not None:
        return page
    image, video = node_media(node)
    if image is None and video is None:
        return node.get_content(metadata_mode=metadata_mode)
    # Media nodes without text of their own are embedded as the media alone (what
    # MultiModalVectorStoreIndex does with ImageNodes), not as media + a metadata string.
    has_text = bool(node.get_content(metadata_mode=MetadataMode.NONE).strip())
    return document_item(node.get_content(metadata_mode=metadata_mode) if has_text else None, image, video)


def query_item(query_bundle: QueryBundle) -> Any:
    """The core item for a query: its text, or its image (``image_path``) with the text when there is one."""
    if query_bundle.image_path:
        return document_item(query_bundle.query_str or None, query_bundle.image_path)
    return query_bundle.query_str
