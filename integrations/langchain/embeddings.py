"""Qwen3VLEmbeddings: Qwen3-VL-Embedding as LangChain ``Embeddings``, with images, video and mixed items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import Field

from .._lazy import LazyModel
from .._shared import (
    DEFAULT_EMBEDDING_MODEL,
    INSTRUCTION_ALIASES,
    base64_image,
    vl_embedder_model,
)
from ._adapter import CoreModelAdapter

DEFAULT_MODEL_NAME = DEFAULT_EMBEDDING_MODEL


def _floats(vectors: Any) -> list[list[float]]:
    """(N, D) array-like to lists of plain Python floats (numpy scalars fail LangChain's checks)."""
    return np.asarray(vectors, dtype=np.float64).tolist()


class Qwen3VLEmbeddings(CoreModelAdapter, Embeddings):
    """Qwen3-VL-Embedding vectors for LangChain: text, images, video and mixes in one space.

    Wraps a ``qwen3_vl_rag.core`` embedder: a local ``Qwen3VLEmbedder`` built from ``model_name`` at
    construction (so a missing model fails here; ``lazy=True`` defers loading to first use), or any object
    with the same interface passed as ``embedder`` (a ``RemoteEmbedder``, a ``Qwen3TextEmbedder``, ...).
    The arguments of ``HuggingFaceEmbeddings`` / ``HuggingFaceEmbedding`` that mean the same thing here are
    accepted (``device``, ``max_length``, ``cache_folder``, ``trust_remote_code``, ``show_progress``,
    ``normalize=True``; ``text_instruction`` and ``embedder_kwargs`` as aliases); anything else is refused.

    A text whose content is a base64-encoded image (how ``Chroma.add_images`` and :func:`add_images` store
    an image in ``page_content``) is embedded as that image.

    Example:
        .. code-block:: python

            from qwen3_vl_rag.integrations.langchain import Qwen3VLEmbeddings

            embeddings = Qwen3VLEmbeddings(model_name="Qwen/Qwen3-VL-Embedding-2B", dimensions=1024)
            embeddings.embed_query("a dog on the beach")
            embeddings.embed_image(uris=["photos/beach.jpg"])        # Chroma / LanceDB convention
            embeddings.embed_multimodal([{"image": "chart.png", "text": "Q3 revenue"}])
    """

    model_name: str = Field(default=DEFAULT_MODEL_NAME, alias="model")
    """Hugging Face id or local directory of a Qwen3-VL-Embedding model (ignored when ``embedder`` is given)."""
    embedder: Any = Field(default=None, exclude=True)
    """A ready core embedder (local or remote) to use instead of loading ``model_name``."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for ``Qwen3VLEmbedder`` (e.g. ``torch_dtype``, ``attn_implementation``, ``max_pixels``)."""
    dimensions: int | None = Field(default=None, ge=1)
    """Matryoshka size: vectors are truncated to this many dimensions and renormalised."""
    query_instruction: str | None = None
    """Instruction for queries; ``None`` uses the embedder's retrieval instruction."""
    document_instruction: str | None = None
    """Instruction for documents and images; ``None`` uses the official default (``Represent the user's input.``)."""
    lazy: bool = False
    """Load the model on first use instead of at construction."""

    _instance_field = "embedder"
    _instance_method = ("embed", "the core embedder interface")
    _extra_arguments = frozenset({"normalize"})
    _aliases = INSTRUCTION_ALIASES

    def _lazy_model(self) -> LazyModel:
        return vl_embedder_model(self.embedder, self.model_name, self.model_kwargs, self.dimensions)

    @property
    def dimension(self) -> int:
        """Length of the vectors (``dimensions`` when set, else the model's full size; loads the model)."""
        return int(self.dimensions or self.client.dimension)

    @property
    def identity(self) -> Any:
        """The vector space of these embeddings (``core.identity.EmbeddingIdentity``; loads the model)."""
        from qwen3_vl_rag.core.identity import identity_of

        identity = identity_of(self.client)
        return identity.with_dimension(self.dimensions) if self.dimensions else identity

    def space_metadata(self) -> dict[str, str]:
        """``{"embedding_space": label}``: add it to the metadata of documents you store with these
        embeddings, and ``Qwen3VLRerank`` refuses results that mix two models' vectors."""
        from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY, space_label

        return {SPACE_METADATA_KEY: space_label(self.identity)}

    # -- shared paths ----------------------------------------------------------------------------
    def _embed(self, items: Sequence[Any], query: bool) -> list[list[float]]:
        client = self.client
        if query:
            return _floats(client.embed_queries(list(items), instruction=self.query_instruction,
                                                dimensions=self.dimensions))
        return _floats(client.embed_documents(list(items), dimensions=self.dimensions,
                                              instruction=self.document_instruction))

    async def _aembed(self, items: Sequence[Any], query: bool) -> list[list[float]]:
        client = await self._aclient()
        if query:
            return _floats(await client.aembed_queries(list(items), instruction=self.query_instruction,
                                                       dimensions=self.dimensions))
        return _floats(await client.aembed_documents(list(items), dimensions=self.dimensions,
                                                     instruction=self.document_instruction))

    # -- LangChain Embeddings --------------------------------------------------------------------
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts as documents (a base64-encoded image as that image: the ``add_images`` convention)."""
        return self._embed(_documents(texts), query=False)

    def embed_query(self, text: str) -> list[float]:
        """Embed one text as a query (with the query instruction)."""
        return self._embed([text], query=True)[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self._aembed(_documents(texts), query=False)

    async def aembed_query(self, text: str) -> list[float]:
        return (await self._aembed([text], query=True))[0]

    # -- images, video, mixed --------------------------------------------------------------------
    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """Embed images as documents: paths, ``file://`` or ``data:image/...`` URIs, base64 strings.

        The duck-typed method Chroma, LanceDB and SingleStore call as ``embed_image(uris=...)``.
        """
        return self._embed(_images(uris), query=False)

    async def aembed_image(self, uris: list[str]) -> list[list[float]]:
        return await self._aembed(_images(uris), query=False)

    def embed_video(self, videos: list[Any], *, fps: float | None = None,
                    max_frames: int | None = None) -> list[list[float]]:
        """Embed videos as documents: each a video file path or a list of frames (image sources).

        ``fps`` and ``max_frames`` override the embedder's sampling for these videos.
        """
        return self._embed(_videos(videos, fps, max_frames), query=False)

    async def aembed_video(self, videos: list[Any], *, fps: float | None = None,
                           max_frames: int | None = None) -> list[list[float]]:
        return await self._aembed(_videos(videos, fps, max_frames), query=False)

    def embed_multimodal(self, items: list[Any], *, query: bool = False) -> list[list[float]]:
        """Embed core items (str, image, or dict with ``text`` / ``image`` / ``video`` / ``instruction``).

        ``query=True`` embeds them as queries (e.g. an image query), else as documents.
        """
        return self._embed(_items(items), query=query)

    async def aembed_multimodal(self, items: list[Any], *, query: bool = False) -> list[list[float]]:
        return await self._aembed(_items(items), query=query)


def _documents(texts: Sequence[str]) -> list[Any]:
    """Texts as core items; one holding a base64-encoded image is that image; a PDF-page document that
    ``add_documents`` is storing is its page image."""
    from .pdf import stored_pages

    pages = stored_pages(texts)
    items: list[Any] = []
    for position, text in enumerate(texts):
        if pages is not None and pages[position] is not None:
            items.append(pages[position])
            continue
        image = base64_image(text)
        items.append(text if image is None else {"image": image})
    return items


def _images(uris: Sequence[str]) -> list[dict[str, Any]]:
    if isinstance(uris, (str, bytes)):
        raise TypeError("embed_image expects a list of image URIs or paths (wrap a single one in a list)")
    return [{"image": uri} for uri in uris]


def _videos(videos: Sequence[Any], fps: float | None, max_frames: int | None) -> list[dict[str, Any]]:
    if isinstance(videos, (str, bytes)):
        raise TypeError("embed_video expects a list of videos (wrap a single one in a list)")
    sampling = {k: v for k, v in (("fps", fps), ("max_frames", max_frames)) if v is not None}
    return [{"video": video, **sampling} for video in videos]


def _items(items: Sequence[Any]) -> list[Any]:
    if isinstance(items, (str, bytes, dict)):
        raise TypeError("embed_multimodal expects a list of items (wrap a single one in a list)")
    return list(items)
