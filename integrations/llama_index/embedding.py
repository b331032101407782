"""``Qwen3VLEmbedding``: Qwen3-VL-Embedding as a LlamaIndex ``MultiModalEmbedding``."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from typing import Any

from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr, field_serializer, field_validator
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent, EmbeddingStartEvent
from llama_index.core.schema import BaseNode, ImageType, MetadataMode

from qwen3_vl_rag.core.errors import InputError
from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY, identity_of, space_label

from .._shared import (
    DEFAULT_EMBEDDING_MODEL,
    INSTRUCTION_ALIASES,
    MODEL_ARGUMENTS,
    MODEL_KWARGS_ALIASES,
    check_adapter_precision,
    check_call,
    jsonable_model_kwargs,
    precision_kwargs,
    refuse_unknown,
    rename_aliases,
    take_model_arguments,
    vl_embedder_model,
)
from ._index_frames import index_nodes
from ._nodes import has_media, node_item

DEFAULT_MODEL = DEFAULT_EMBEDDING_MODEL
# LlamaIndex hands the embedder embed_batch_size items per call, and the core splits each call into
# forward passes bounded by tokens (max_batch_tokens, 16,384 by default) and rows (max_batch_size): the
# core, not this number, bounds memory per pass. A small embed_batch_size (LlamaIndex's 10, or 32) would cap
# a GPU forward pass at that many rows; 256 lets the core fill its budget (e.g. 64 rows of 256-token chunks)
# while decoding at most 256 images up front.
DEFAULT_EMBED_BATCH_SIZE = 256

dispatcher = get_dispatcher(__name__)


def _image_item(image: Any) -> dict:
    """An ``ImageType`` (path / URL / data URI string, BytesIO) or PIL image as a core image item."""
    return {"image": image}


class Qwen3VLEmbedding(MultiModalEmbedding):
    """Text, images, video and mixed inputs in one vector space (Qwen3-VL-Embedding-2B/8B).

    Wraps a core embedder: pass ``embedder=`` (a local ``Qwen3VLEmbedder``, a remote one, or anything
    with the same interface) or a ``model_name`` (hub id or local directory) plus ``model_kwargs``
    (alias ``embedder_kwargs``) for the local ``Qwen3VLEmbedder``. The model loads at construction, so a
    missing model fails here, not mid-ingestion (``lazy=True``: on first use, as in the LangChain adapter).
    ``HuggingFaceEmbedding``'s ``device``, ``max_length``, ``cache_folder``, ``trust_remote_code``,
    ``show_progress_bar`` and ``normalize=True`` are accepted; anything unknown is refused.
    ``to_dict()`` holds the configuration, never the weights (a wrapped remote embedder must be passed
    again to ``from_dict``).

    Queries get ``query_instruction``, documents (texts, images, video) ``document_instruction`` (alias
    ``text_instruction``; ``None``: the core's defaults). Image nodes are embedded as their image (with their
    text when they have text) and text nodes as text, into the same space, in every LlamaIndex idiom:
    ``IngestionPipeline`` (``__call__``), ``VectorStoreIndex(nodes)``, ``VectorStoreIndex.from_documents``,
    ``index.insert`` and ``MultiModalVectorStoreIndex``.
    """

    model_name: str = Field(default=DEFAULT_MODEL, description="Hub id or local path of the embedding model.")
    embed_batch_size: int = Field(
        default=DEFAULT_EMBED_BATCH_SIZE, gt=0, le=2048,
        description="Items per call to the core embedder (which sub-batches by tokens).",
    )
    query_instruction: str | None = Field(
        default=None, description="Instruction for queries; None uses the model's retrieval instruction."
    )
    document_instruction: str | None = Field(
        default=None, description="Instruction for documents (text, images, video); None: the official default."
    )
    dimensions: int | None = Field(default=None, description="Matryoshka size of the vectors; None: full size.")
    precision: str = Field(default="float32", description="'float32' or 'float16' (values rounded to float16, "
                           "e.g. to match a float16 bulk job); int8 / binary codes are refused: vector stores would "
                           "rank them wrongly (see docs/precision.md).")
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the local Qwen3VLEmbedder (device, dtype, ...)."
    )
    lazy: bool = Field(default=False, description="Load the model on first use instead of at construction.")
    embedder_class: str | None = Field(
        default=None, description="Class of the embedder passed as embedder= (to_dict cannot hold it)."
    )

    _model: Any = PrivateAttr()

    def __init__(self, model_name: str | None = None, *, embedder: Any = None, **kwargs: Any) -> None:
        owner = type(self).__name__
        kwargs = rename_aliases(owner, kwargs, INSTRUCTION_ALIASES)
        accepted = {*type(self).model_fields, *MODEL_ARGUMENTS, "normalize", *MODEL_KWARGS_ALIASES,
                    *INSTRUCTION_ALIASES} - {"embedder_class"}
        refuse_unknown(owner, set(kwargs) - accepted, accepted)
        kwargs = take_model_arguments(owner, kwargs, instance=embedder)
        if embedder is not None:
            if model_name is not None and model_name != embedder.model_name:
                raise ValueError(f"model_name={model_name!r} conflicts with the embedder's {embedder.model_name!r}")
            model_name = embedder.model_name
            kwargs["embedder_class"] = type(embedder).__name__
        super().__init__(model_name=model_name or DEFAULT_MODEL, **kwargs)
        self._model = vl_embedder_model(embedder, self.model_name, self.model_kwargs, self.dimensions)
        if not self.lazy:
            self._model.get()

    @field_serializer("model_kwargs")
    def _serialise_model_kwargs(self, value: dict[str, Any]) -> dict[str, Any]:
        return jsonable_model_kwargs(value, type(self).__name__)

    @field_validator("precision")
    @classmethod
    def _check_precision(cls, value: Any) -> str:
        return check_adapter_precision(cls.__name__, value)

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> Qwen3VLEmbedding:
        """Rebuild from ``to_dict()``. A configuration that wrapped a non-local embedder (``embedder_class``,
        e.g. ``RemoteEmbedder``) needs it again as ``embedder=``: it is refused rather than loaded as a local
        model named after the remote id."""
        data = {**data, **kwargs}
        wrapped = data.pop("embedder_class", None)
        if data.get("embedder") is None and wrapped not in (None, "Qwen3VLEmbedder"):
            raise ValueError(f"this {cls.__name__} wrapped a {wrapped}, which to_dict() does not hold (connections, "
                             f"secrets): pass it again, {cls.__name__}.from_dict(data, embedder={wrapped}(...))")
        if data.get("embedder") is not None:
            data.pop("model_kwargs", None)
            data.pop("lazy", None)
        data.pop("class_name", None)
        return cls(**data)

    @classmethod
    def class_name(cls) -> str:
        return "Qwen3VLEmbedding"

    @property
    def embedder(self) -> Any:
        """The core embedder doing the work (loaded on first access with ``lazy=True``)."""
        return self._model.get()

    @property
    def client(self) -> Any:
        """The core embedder, under the LangChain adapter's name."""
        return self.embedder

    @property
    def dimension(self) -> int:
        """Length of the vectors (``dimensions`` when set, else the model's full size)."""
        return int(self.dimensions or self.embedder.dimension)

    # -- the two core calls everything goes through --------------------------------------------
    def _embed(self, items: Sequence[Any], instruction: str | None = None,
               indices: list[int] | None = None) -> list[Embedding]:
        indices = _claim(len(items)) if indices is None else indices
        with _caller_indices(indices):
            vectors = self.embedder.embed_documents(list(items), dimensions=self.dimensions,
                                                    instruction=instruction or self.document_instruction,
                                                    **precision_kwargs(self.precision))
        return vectors.tolist()

    async def _aembed(self, items: Sequence[Any], instruction: str | None = None,
                      indices: list[int] | None = None) -> list[Embedding]:
        indices = _claim(len(items)) if indices is None else indices
        with _caller_indices(indices):
            vectors = await self.embedder.aembed_documents(list(items), dimensions=self.dimensions,
                                                           instruction=instruction or self.document_instruction,
                                                           **precision_kwargs(self.precision))
        return vectors.tolist()

    # -- queries -----------------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> Embedding:
        vectors = self.embedder.embed_queries([query], instruction=self.query_instruction, dimensions=self.dimensions,
                                              **precision_kwargs(self.precision))
        return vectors[0].tolist()

    async def _aget_query_embedding(self, query: str) -> Embedding:
        vectors = await self.embedder.aembed_queries(
            [query], instruction=self.query_instruction, dimensions=self.dimensions, **precision_kwargs(self.precision)
        )
        return vectors[0].tolist()

    # -- texts ---------------------------------------------------------------------------------------
    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aembed([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed(texts)

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **kwargs: Any) -> list[Embedding]:
        """LlamaIndex's batched text embedding; when ``VectorStoreIndex`` asks for the vectors of nodes that carry
        media (``from_documents``, ``insert``), those nodes are embedded as their media, never as their text."""
        nodes = index_nodes(texts)
        if nodes is not None:
            return self._embed_nodes(nodes, show_progress)
        self._check(texts)
        with _stream(range(len(texts))):
            return super().get_text_embedding_batch(texts, show_progress=show_progress, **kwargs)

    async def aget_text_embedding_batch(self, texts: list[str], show_progress: bool = False,
                                        **kwargs: Any) -> list[Embedding]:
        nodes = index_nodes(texts)
        if nodes is not None:
            return await self._aembed_nodes(nodes, show_progress)
        await self._acheck(texts)
        with _stream(range(len(texts))):
            return await super().aget_text_embedding_batch(texts, show_progress=show_progress, **kwargs)

    def _aget_text_embeddings(self, texts: list[str]) -> Awaitable[list[Embedding]]:  # type: ignore[override]
        # Not ``async``: LlamaIndex creates every batch's coroutine in order, then gathers them, so the caller's
        # indices of this batch are claimed now, while the order is known.
        return self._aembed(texts, indices=_claim(len(texts)))

    # -- images (ImageType: path / URL / data-URI string or BytesIO; PIL images work too) --------
    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._embed([_image_item(img_file_path)])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aembed([_image_item(img_file_path)]))[0]

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return self._embed([_image_item(image) for image in img_file_paths])

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return await self._aembed([_image_item(image) for image in img_file_paths])

    def get_image_embedding_batch(self, img_file_paths: list[ImageType],
                                  show_progress: bool = False) -> list[Embedding]:
        """Batched image embedding with the embedding events and a progress bar that moves as batches finish."""
        return self.get_multimodal_embeddings([_image_item(i) for i in img_file_paths], show_progress=show_progress)

    async def aget_image_embedding_batch(self, img_file_paths: list[ImageType],
                                         show_progress: bool = False) -> list[Embedding]:
        return await self.aget_multimodal_embeddings([_image_item(i) for i in img_file_paths],
                                                     show_progress=show_progress)

    # -- video and mixed items (no LlamaIndex API exists; VoyageAI / DashScope precedent) ----------
    def get_multimodal_embeddings(
        self, items: Sequence[Any], instruction: str | None = None, show_progress: bool = False
    ) -> list[Embedding]:
        """Vectors for core items: a text string, an image (PIL, BytesIO, Path, bytes) or a dict with
        ``text`` / ``image`` / ``video`` (any mix). Documents get ``document_instruction`` unless
        ``instruction`` is given; batches of ``embed_batch_size``, each with LlamaIndex's embedding events
        (``EmbeddingStartEvent`` / ``EmbeddingEndEvent`` and the ``EMBEDDING`` callback event); the progress bar
        advances when a batch is done."""
        result: list[Embedding] = []
        self._check(items, instruction)
        with _stream(range(len(items)), keep_outer=True), _checked():
            for batch in self._batches(items, show_progress):
                with self._event(batch) as event:
                    vectors = self._embed(batch, instruction)
                    event.on_end(payload={EventPayload.CHUNKS: [_chunk_text(i) for i in batch],
                                          EventPayload.EMBEDDINGS: vectors})
                result.extend(vectors)
        return result

    async def aget_multimodal_embeddings(
        self, items: Sequence[Any], instruction: str | None = None, show_progress: bool = False
    ) -> list[Embedding]:
        """Async :meth:`get_multimodal_embeddings`; batches run one after another (the model is serial)."""
        result: list[Embedding] = []
        await self._acheck(items, instruction)
        with _stream(range(len(items)), keep_outer=True), _checked():
            for batch in self._batches(items, show_progress):
                with self._event(batch) as event:
                    vectors = await self._aembed(batch, instruction)
                    event.on_end(payload={EventPayload.CHUNKS: [_chunk_text(i) for i in batch],
                                          EventPayload.EMBEDDINGS: vectors})
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
        for node, vector in zip(nodes, self._embed_nodes(nodes, kwargs.get("show_progress", False))):
            node.embedding = vector
        return nodes

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        for node, vector in zip(nodes, await self._aembed_nodes(nodes, kwargs.get("show_progress", False))):
            node.embedding = vector
        return nodes

    def _embed_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False) -> list[Embedding]:
        """One vector per node, in order: media nodes as media (+ text), the others as text; nodes stamped."""
        media, texts = self._split(nodes)
        vectors: dict[int, Embedding] = {}
        order = _node_order(nodes, texts, media)
        self._check([node_item(n) for n in texts + media], order=order, calls=int(bool(texts)) + int(bool(media)))
        with _stream(order), _checked():
            self._embed_split(texts, media, vectors, show_progress)
        self._stamp(nodes)
        return [vectors[id(n)] for n in nodes]

    def _embed_split(self, texts: list[BaseNode], media: list[BaseNode], vectors: dict[int, Embedding],
                     show_progress: bool) -> None:
        if texts:
            text_vectors = super().get_text_embedding_batch(
                [n.get_content(metadata_mode=MetadataMode.EMBED) for n in texts], show_progress=show_progress)
            vectors.update(zip(map(id, texts), text_vectors))
        if media:
            media_vectors = self.get_multimodal_embeddings([node_item(n) for n in media], show_progress=show_progress)
            vectors.update(zip(map(id, media), media_vectors))

    async def _aembed_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False) -> list[Embedding]:
        media, texts = self._split(nodes)
        vectors: dict[int, Embedding] = {}
        order = _node_order(nodes, texts, media)
        await self._acheck([node_item(n) for n in texts + media], order=order,
                           calls=int(bool(texts)) + int(bool(media)))
        with _stream(order), _checked():
            await self._aembed_split(texts, media, vectors, show_progress)
        self._stamp(nodes)
        return [vectors[id(n)] for n in nodes]

    async def _aembed_split(self, texts: list[BaseNode], media: list[BaseNode], vectors: dict[int, Embedding],
                            show_progress: bool) -> None:
        if texts:
            text_vectors = await super().aget_text_embedding_batch(
                [n.get_content(metadata_mode=MetadataMode.EMBED) for n in texts], show_progress=show_progress)
            vectors.update(zip(map(id, texts), text_vectors))
        if media:
            media_vectors = await self.aget_multimodal_embeddings([node_item(n) for n in media],
                                                                  show_progress=show_progress)
            vectors.update(zip(map(id, media), media_vectors))

    # -- vector-space identity --------------------------------------------------------------------------
    @property
    def identity(self) -> Any:
        """The vector space these embeddings live in (``core.identity.EmbeddingIdentity``), or None if the
        wrapped embedder does not say."""
        try:
            identity = identity_of(self.embedder)
        except TypeError:
            return None
        identity = identity.with_dimension(self.dimensions) if self.dimensions else identity
        return identity.with_precision(self.precision)

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
    def _check(self, items: Sequence[Any], instruction: str | None = None, order: list[int] | None = None,
               calls: int = 1) -> None:
        """The core checks a call that reaches it in several batches (or ``calls`` parts) as a whole, before the
        first one runs, so a bad item costs no forward pass; ``order``: each item's index in the caller's list."""
        if _CHECKED.get() or (calls <= 1 and len(items) <= self.embed_batch_size):
            return  # checked further up, or one core call that checks itself
        with _caller_indices(list(range(len(items))) if order is None else order):
            check_call(self.embedder, list(items), instruction or self.document_instruction, self.dimensions)

    async def _acheck(self, items: Sequence[Any], instruction: str | None = None, order: list[int] | None = None,
                      calls: int = 1) -> None:
        if not _CHECKED.get() and (calls > 1 or len(items) > self.embed_batch_size):
            await asyncio.to_thread(self._check, items, instruction, order, calls)  # files are read: off the loop

    @staticmethod
    def _split(nodes: Sequence[BaseNode]) -> tuple[list[BaseNode], list[BaseNode]]:
        media = [n for n in nodes if has_media(n)]
        ids = {id(n) for n in media}
        return media, [n for n in nodes if id(n) not in ids]

    def _batches(self, items: Sequence[Any], show_progress: bool) -> Iterator[list[Any]]:
        """Batches of ``embed_batch_size``; the progress bar (items) advances when the caller asks for the next
        batch, i.e. after the previous one is embedded, and reaches 100% when the last one is done."""
        items = list(items)
        bar = _progress_bar(len(items), show_progress)
        try:
            for start in range(0, len(items), self.embed_batch_size):
                batch = items[start : start + self.embed_batch_size]
                yield batch
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()

    @contextlib.contextmanager
    def _event(self, batch: list[Any]) -> Iterator[Any]:
        """The events LlamaIndex's own text batches emit: ``EmbeddingStartEvent`` / ``EmbeddingEndEvent`` on the
        instrumentation dispatcher and the ``CBEventType.EMBEDDING`` callback event."""
        model_dict = self.to_payload()
        dispatcher.event(EmbeddingStartEvent(model_dict=model_dict))
        ended: dict[str, Any] = {}
        with self.callback_manager.event(CBEventType.EMBEDDING,
                                         payload={EventPayload.SERIALIZED: model_dict}) as event:
            yield _EndRecorder(event, ended)
        dispatcher.event(EmbeddingEndEvent(chunks=[_describe(item) for item in batch],
                                           embeddings=ended.get("embeddings", [])))


class _EndRecorder:
    """Wraps a callback event so that its ``on_end`` payload also feeds the instrumentation end event."""

    def __init__(self, event: Any, ended: dict[str, Any]) -> None:
        self._event, self._ended = event, ended

    def on_end(self, payload: dict[Any, Any] | None = None, **kwargs: Any) -> None:
        self._ended["embeddings"] = list((payload or {}).get(EventPayload.EMBEDDINGS, []))
        self._event.on_end(payload=payload, **kwargs)


# -- the caller's indices --------------------------------------------------------------------------------
# LlamaIndex hands the embedder ``embed_batch_size`` items at a time, and a pipeline step splits nodes into
# text and media; the core names a bad item by its index in what it was given. A call's "stream" lists, in the
# order its batches reach the core, each item's index in the caller's list, so errors name that index.
_STREAM: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("qwen3_embedding_stream", default=None)


@contextlib.contextmanager
def _stream(order: Iterable[int], keep_outer: bool = False) -> Iterator[None]:
    """Batches embedded inside take their caller indices from ``order`` (unless ``keep_outer`` and a call
    further up already set them)."""
    if keep_outer and _STREAM.get() is not None:
        yield
        return
    token = _STREAM.set([list(order), 0])
    try:
        yield
    finally:
        _STREAM.reset(token)


# Set while the batches of a call checked as a whole run (``Qwen3VLEmbedding._check``): not checked again.
_CHECKED: contextvars.ContextVar[bool] = contextvars.ContextVar("qwen3_embedding_checked", default=False)


@contextlib.contextmanager
def _checked() -> Iterator[None]:
    token = _CHECKED.set(True)
    try:
        yield
    finally:
        _CHECKED.reset(token)


def _claim(n: int) -> list[int]:
    """The caller indices of the next ``n`` items of the current stream (0..n-1 outside one)."""
    state = _STREAM.get()
    if state is None or state[1] + n > len(state[0]):
        return list(range(n))
    order, cursor = state
    state[1] = cursor + n
    return order[cursor:cursor + n]


@contextlib.contextmanager
def _caller_indices(indices: list[int]) -> Iterator[None]:
    """Re-raise a core ``InputError`` with the caller's index of the bad item."""
    try:
        yield
    except InputError as exc:
        if 0 <= exc.index < len(indices) and indices[exc.index] != exc.index:
            raise InputError(indices[exc.index], exc.reason) from exc
        raise


def _node_order(nodes: Sequence[BaseNode], texts: list[BaseNode], media: list[BaseNode]) -> list[int]:
    position = {id(n): i for i, n in enumerate(nodes)}
    return [position[id(n)] for n in texts] + [position[id(n)] for n in media]


def _chunk_text(item: Any) -> str:
    """The text an item embeds, for the callback payload's chunks (strings: ``TokenCountingHandler`` counts
    them with its tokenizer; an image alone has none). ``usage`` on the core embedder counts every token."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        text = item.get("text") or ""
        return "".join(text) if isinstance(text, (list, tuple)) else str(text)
    return ""


def _describe(item: Any) -> str:
    """A short text for an item in ``EmbeddingEndEvent.chunks`` (which holds strings): the text, or the kinds."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        kinds = [k for k in ("image", "video") if item.get(k) is not None]
        text = item.get("text") or ""
        return f"[{'+'.join(kinds)}] {text}".strip() if kinds else str(text)
    return f"[{type(item).__name__}]"


def _progress_bar(total: int, show_progress: bool) -> Any:
    if not show_progress or total == 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return None
    return tqdm(total=total, desc="Embedding", unit="item")
