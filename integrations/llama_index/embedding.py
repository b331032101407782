"""``Qwen3VLEmbedding``: Qwen3-VL-Embedding as a LlamaIndex ``MultiModalEmbedding``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import BaseNode, ImageType, MetadataMode

from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY, identity_of, space_label

from .._shared import DEFAULT_EMBEDDING_MODEL
from ._nodes import has_media, node_item

DEFAULT_MODEL = DEFAULT_EMBEDDING_MODEL
# One LlamaIndex batch of 32 chunks of up to 512 tokens is 16,384 tokens: exactly the core's default
# token budget per forward pass (max_batch_tokens), so text batches fill the GPU; image batches split
# into several passes inside the core. Larger batches only decode more media up front.
DEFAULT_EMBED_BATCH_SIZE = 32


def _image_item(image: Any) -> dict:
    """An ``ImageType`` (path / URL / data URI string, BytesIO) or PIL image as a core image item."""
    return {"image": image}


class Qwen3VLEmbedding(MultiModalEmbedding):
    """Text, images, video and mixed inputs in one vector space (Qwen3-VL-Embedding-2B/8B).

    Wraps a core embedder: pass ``embedder=`` (a local ``Qwen3VLEmbedder``, a remote one, or anything
    with the same interface) or a ``model_name`` (hub id or local directory) plus ``embedder_kwargs``
    for the local ``Qwen3VLEmbedder``; the model loads at construction, so a missing model fails
    here, not mid-ingestion. ``to_dict()`` holds the configuration, never the weights.

    Queries get ``query_instruction``, texts and images ``text_instruction`` (``None``: the core's
    defaults). As an ``IngestionPipeline`` step (``__call__``), image nodes are embedded as their image
    (with their text when they have text) and text nodes as text, into the same space.
    """

    model_name: str = Field(default=DEFAULT_MODEL, description="Hub id or local path of the embedding model.")
    embed_batch_size: int = Field(
        default=DEFAULT_EMBED_BATCH_SIZE, gt=0, le=2048,
        description="Items per call to the core embedder (which sub-batches by tokens).",
    )
    query_instruction: str | None = Field(
        default=None, description="Instruction for queries; None uses the model's retrieval instruction."
    )
    text_instruction: str | None = Field(
        default=None, description="Instruction for documents (text, images, video); None: the official default."
    )
    dimensions: int | None = Field(default=None, description="Matryoshka size of the vectors; None: full size.")
    embedder_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the local Qwen3VLEmbedder (device, dtype, ...)."
    )

    _embedder: Any = PrivateAttr()

    def __init__(
        self,
        model_name: str | None = None,
        *,
        embedder: Any = None,
        embedder_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if embedder is not None:
            if embedder_kwargs:
                raise ValueError("pass either embedder= or embedder_kwargs=, not both")
            if model_name is not None and model_name != embedder.model_name:
                raise ValueError(f"model_name={model_name!r} conflicts with the embedder's {embedder.model_name!r}")
            model_name = embedder.model_name
        super().__init__(model_name=model_name or DEFAULT_MODEL, embedder_kwargs=embedder_kwargs or {}, **kwargs)
        if embedder is None:
            from qwen3_vl_rag.core import Qwen3VLEmbedder

            embedder = Qwen3VLEmbedder(self.model_name, **self.embedder_kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "Qwen3VLEmbedding"

    @property
    def embedder(self) -> Any:
        """The core embedder doing the work."""
        return self._embedder

    # -- the two core calls everything goes through --------------------------------------------
    def _embed(self, items: Sequence[Any], instruction: str | None = None) -> list[Embedding]:
        vectors = self._embedder.embed_documents(list(items), dimensions=self.dimensions,
                                                 instruction=instruction or self.text_instruction)
        return vectors.tolist()

    async def _aembed(self, items: Sequence[Any], instruction: str | None = None) -> list[Embedding]:
        vectors = await self._embedder.aembed_documents(list(items), dimensions=self.dimensions,
                                                        instruction=instruction or self.text_instruction)
        return vectors.tolist()

    # -- queries -----------------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> Embedding:
        vectors = self._embedder.embed_queries([query], instruction=self.query_instruction, dimensions=self.dimensions)
        return vectors[0].tolist()

    async def _aget_query_embedding(self, query: str) -> Embedding:
        vectors = await self._embedder.aembed_queries(
            [query], instruction=self.query_instruction, dimensions=self.dimensions
        )
        return vectors[0].tolist()

    # -- texts ---------------------------------------------------------------------------------------
    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aembed([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._aembed(texts)

    # -- images (ImageType: path / URL / data-URI string or BytesIO; PIL images work too) --------
    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._embed([_image_item(img_file_path)])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aembed([_image_item(img_file_path)]))[0]

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return self._embed([_image_item(image) for image in img_file_paths])

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return await self._aembed([_image_item(image) for image in img_file_paths])

    # -- video and mixed items (no LlamaIndex API exists; VoyageAI / DashScope precedent) ----------
    def get_multimodal_embeddings(
        self, items: Sequence[Any], instruction: str | None = None, show_progress: bool = False
    ) -> list[Embedding]:
        """Vectors for core items: a text string, an image (PIL, BytesIO, Path, bytes) or a dict with
        ``text`` / ``image`` / ``video`` (any mix). Documents get ``text_instruction`` unless
        ``instruction`` is given; batches of ``embed_batch_size`` with callback events."""
        result: list[Embedding] = []
        for batch in self._batches(items, show_progress):
            with self._event(batch) as event:
                vectors = self._embed(batch, instruction)
                event.on_end(payload={EventPayload.CHUNKS: batch, EventPayload.EMBEDDINGS: vectors})
            result.extend(vectors)
        return result

    async def aget_multimodal_embeddings(
        self, items: Sequence[Any], instruction: str | None = None, show_progress: bool = False
    ) -> list[Embedding]:
        """Async :meth:`get_multimodal_embeddings`; batches run one after another (the model is serial)."""
        result: list[Embedding] = []
        for batch in self._batches(items, show_progress):
            with self._event(batch) as event:
                vectors = await self._aembed(batch, instruction)
                event.on_end(payload={EventPayload.CHUNKS: batch, EventPayload.EMBEDDINGS: vectors})
            result.extend(vectors)
        return result

    def get_multimodal_embedding(self, item: Any, instruction: str | None = None) -> Embedding:
        """Vector for one core item (e.g. ``{"image": "chart.png", "text": "Q3 revenue"}``)."""
        return self.get_multimodal_embeddings([item], instruction)[0]

    async def aget_multimodal_embedding(self, item: Any, instruction: str | None = None) -> Embedding:
        return (await self.aget_multimodal_embeddings([item], instruction))[0]

    def get_video_embeddings(self, videos: Sequence[Any], show_progress: bool = False) -> list[Embedding]:
        """Vectors for videos: each a video file path or a list of frames (image sources)."""
        return self.get_multimodal_embeddings([{"video": v} for v in videos], show_progress=show_progress)

    async def aget_video_embeddings(self, videos: Sequence[Any], show_progress: bool = False) -> list[Embedding]:
        return await self.aget_multimodal_embeddings([{"video": v} for v in videos], show_progress=show_progress)

    def get_video_embedding(self, video: Any) -> Embedding:
        return self.get_video_embeddings([video])[0]

    async def aget_video_embedding(self, video: Any) -> Embedding:
        return (await self.aget_video_embeddings([video]))[0]

    # -- nodes (IngestionPipeline) ---------------------------------------------------------------------
    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Embed every node (as ``BaseEmbedding.__call__`` does): media nodes as media (+ text), others as text."""
        media, texts = self._split(nodes)
        if texts:
            text_vectors = self.get_text_embedding_batch(
                [n.get_content(metadata_mode=MetadataMode.EMBED) for n in texts], **kwargs
            )
            for node, vector in zip(texts, text_vectors):
                node.embedding = vector
        if media:
            vectors = self.get_multimodal_embeddings([node_item(n) for n in media], **kwargs)
            for node, vector in zip(media, vectors):
                node.embedding = vector
        return self._stamp(nodes)

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        media, texts = self._split(nodes)
        if texts:
            text_vectors = await self.aget_text_embedding_batch(
                [n.get_content(metadata_mode=MetadataMode.EMBED) for n in texts], **kwargs
            )
            for node, vector in zip(texts, text_vectors):
                node.embedding = vector
        if media:
            vectors = await self.aget_multimodal_embeddings([node_item(n) for n in media], **kwargs)
            for node, vector in zip(media, vectors):
                node.embedding = vector
        return self._stamp(nodes)

    # -- vector-space identity --------------------------------------------------------------------------
    @property
    def identity(self) -> Any:
        """The vector space these embeddings live in (``core.identity.EmbeddingIdentity``), or None if the
        wrapped embedder does not say."""
        try:
            identity = identity_of(self._embedder)
        except TypeError:
            return None
        return identity.with_dimension(self.dimensions) if self.dimensions else identity

    def _stamp(self, nodes: Sequence[BaseNode]) -> Sequence[BaseNode]:
        """Record the vector space in each node's metadata (hidden from the embedding text and the LLM), so
        ``Qwen3VLRerank`` refuses results that mix two models' vectors."""
        identity = self.identity
        if identity is None:
            return nodes
        label = space_label(identity)
        for node in nodes:
            node.metadata[SPACE_METADATA_KEY] = label
            for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
                if SPACE_METADATA_KEY not in excluded:
                    excluded.append(SPACE_METADATA_KEY)
        return nodes

    # -- helpers -----------------------------------------------------------------------------------------
    @staticmethod
    def _split(nodes: Sequence[BaseNode]) -> tuple[list[BaseNode], list[BaseNode]]:
        media = [n for n in nodes if has_media(n)]
        ids = {id(n) for n in media}
        return media, [n for n in nodes if id(n) not in ids]

    def _batches(self, items: Sequence[Any], show_progress: bool) -> list[list[Any]]:
        from llama_index.core.utils import get_tqdm_iterable

        items = list(items)
        starts = range(0, len(items), self.embed_batch_size)
        return [items[i : i + self.embed_batch_size] for i in get_tqdm_iterable(starts, show_progress, "Embedding")]

    def _event(self, batch: list[Any]) -> Any:
        """The ``CBEventType.EMBEDDING`` callback event LlamaIndex's own batch methods emit."""
        return self.callback_manager.event(CBEventType.EMBEDDING, payload={EventPayload.SERIALIZED: self.to_payload()})
