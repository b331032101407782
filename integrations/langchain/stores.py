"""Images (and stamped documents) into any LangChain ``VectorStore`` through its public ``add_documents``.

``Chroma.add_images`` stores an image as base64 text in ``page_content``; ``Qwen3VLEmbeddings`` embeds such a
text as the image and ``Qwen3VLRerank`` scores it as the image. :func:`add_images` uses the same convention
for every store (InMemoryVectorStore, Qdrant, FAISS, PGVector, ...), so no store needs hand-built records.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from .._shared import base64_image
from .embeddings import Qwen3VLEmbeddings
from .pdf import storing


def _embeddings_of(store: Any, embeddings: Any) -> Qwen3VLEmbeddings:
    embeddings = embeddings if embeddings is not None else getattr(store, "embeddings", None)
    if not isinstance(embeddings, Qwen3VLEmbeddings):
        raise TypeError(f"add_images needs a vector store built with Qwen3VLEmbeddings (its embeddings embed "
                        f"the base64 image in page_content as the image); {type(store).__name__} has "
                        f"{type(embeddings).__name__}")
    return embeddings


def _as_base64(image: Any, position: int) -> tuple[str, str | None]:
    """(base64 text, the path it came from or None) for a path, bytes, a PIL image or base64 / data-URI text."""
    if isinstance(image, str) and base64_image(image) is not None:
        return image, None
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image {position}: no such file {str(path)!r}")
        return base64.b64encode(path.read_bytes()).decode("ascii"), str(path)
    if isinstance(image, (bytes, bytearray)):
        return base64.b64encode(bytes(image)).decode("ascii"), None
    if hasattr(image, "save"):  # a PIL image
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode("ascii"), None
    raise TypeError(f"image {position}: expected a path, bytes, a PIL image or base64 text, got {type(image).__name__}")


def add_images(store: Any, images: Sequence[Any], metadatas: Sequence[dict[str, Any]] | None = None, *,
               ids: Sequence[str] | None = None, embeddings: Qwen3VLEmbeddings | None = None) -> list[str]:
    """Add images to any LangChain ``VectorStore`` whose embeddings are ``Qwen3VLEmbeddings``; returns the ids.

    Each image becomes a ``Document`` in the ``Chroma.add_images`` convention (``page_content`` = the image as
    base64), with ``metadata["image_path"]`` when it came from a file and the ``embedding_space`` stamp, plus
    your ``metadatas``; the store's ``add_documents`` embeds it as the image.
    """
    if isinstance(images, (str, bytes, os.PathLike)):
        raise TypeError("add_images expects a list of images (wrap a single one in a list)")
    images = list(images)
    if metadatas is not None and len(metadatas) != len(images):
        raise ValueError(f"got {len(metadatas)} metadatas for {len(images)} images")
    if ids is not None and len(ids) != len(images):
        raise ValueError(f"got {len(ids)} ids for {len(images)} images")
    space = _embeddings_of(store, embeddings).space_metadata()
    documents = []
    for position, image in enumerate(images):
        content, path = _as_base64(image, position)
        metadata = {**({"image_path": path} if path else {}), **(metadatas[position] if metadatas else {}), **space}
        documents.append(Document(page_content=content, metadata=metadata,
                                  id=None if ids is None else ids[position]))
    return list(store.add_documents(documents, ids=list(ids) if ids is not None else None))


def add_documents(store: Any, documents: Sequence[Document], *, embeddings: Qwen3VLEmbeddings | None = None,
                  **kwargs: Any) -> list[str]:
    """``store.add_documents`` with the ``embedding_space`` stamp added to copies of the documents' metadata,
    so ``Qwen3VLRerank`` can refuse results mixing two models' vectors."""
    space = _embeddings_of(store, embeddings).space_metadata()
    stamped = [d.model_copy(update={"metadata": {**d.metadata, **space}}) for d in documents]
    with storing(stamped):  # Qwen3PDFLoader pages are embedded as their page image, not their text layer
        return list(store.add_documents(stamped, **kwargs))
