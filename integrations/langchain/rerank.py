"""Qwen3VLRerank: Qwen3-VL-Reranker as a LangChain document compressor (text, image and video documents)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import Field

from qwen3_vl_rag.core.identity import check_documents_space

from .._lazy import LazyModel
from .._shared import (
    DEFAULT_RERANK_MODEL,
    base64_image,
    core_kwargs,
    document_item,
    media_from_metadata,
    page_from_metadata,
)
from ._adapter import CoreModelAdapter

DEFAULT_MODEL_NAME = DEFAULT_RERANK_MODEL


def _item(document: Any) -> Any:
    """A LangChain ``Document`` becomes its text plus the image / video its metadata names; a ``page_content``
    that is a base64-encoded image (``Chroma.add_images``, :func:`add_images`) is that image, not text."""
    if isinstance(document, Document):
        page = page_from_metadata(document.metadata)  # a Qwen3PDFLoader page: scored as the page image
        if page is not None:
            return page
        image, video = media_from_metadata(document.metadata)
        stored = base64_image(document.page_content)
        if stored is not None:
            return document_item(None, image if image is not None else stored, video)
        return document_item(document.page_content, image, video)
    return document  # already a core item (str, dict, image)


class Qwen3VLRerank(CoreModelAdapter, BaseDocumentCompressor):
    """Reorders documents by Qwen3-VL-Reranker relevance, P(yes) in [0, 1].

    Documents may carry an image or a video in their metadata (``image``, ``image_path``,
    ``image_url``, ``video``, ``video_path``, ``video_url``, or ``file_path`` with a media extension);
    the reranker then sees the text and the media together. A ``page_content`` holding a base64-encoded
    image (how ``Chroma.add_images`` stores images) is scored as that image. The model loads at
    construction (``lazy=True``: on first use); ``device``, ``max_length``, ``cache_folder``,
    ``trust_remote_code``, ``show_progress`` are accepted as by ``HuggingFaceCrossEncoder`` /
    ``SentenceTransformerRerank``, ``reranker_kwargs`` as an alias of ``model_kwargs``. Returned documents
    are copies with ``metadata["relevance_score"]``; ``id`` and the rest of the metadata are kept.

    Example:
        .. code-block:: python

            from langchain_classic.retrievers import ContextualCompressionRetriever
            from qwen3_vl_rag.integrations.langchain import Qwen3VLRerank

            retriever = ContextualCompressionRetriever(
                base_compressor=Qwen3VLRerank(model_name="Qwen/Qwen3-VL-Reranker-2B", top_n=3),
                base_retriever=vector_store.as_retriever(search_kwargs={"k": 20}),
            )
    """

    model_name: str = Field(default=DEFAULT_MODEL_NAME, alias="model")
    """Hugging Face id or local directory of a Qwen3-VL-Reranker model (ignored when ``reranker`` is given)."""
    reranker: Any = Field(default=None, exclude=True)
    """A ready core reranker (``Qwen3VLReranker``, ``Qwen3Reranker`` or a remote one) instead of ``model_name``."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for ``Qwen3VLReranker`` (e.g. ``torch_dtype``, ``attn_implementation``)."""
    top_n: int | None = Field(default=None, ge=0)
    """Documents kept by ``compress_documents``; ``None`` (the default, as in the LlamaIndex adapter) keeps all,
    reordered."""
    instruction: str | None = None
    """Task instruction; ``None`` uses the reranker's default."""
    lazy: bool = False
    """Load the model on first use instead of at construction."""

    _instance_field = "reranker"
    _instance_method = ("rerank", "a rerank(query, documents, top_n) method")

    def _lazy_model(self) -> LazyModel:
        return LazyModel(value=self.reranker) if self.reranker is not None else LazyModel(self._load)

    def _load(self) -> Any:
        from qwen3_vl_rag.core import Qwen3VLReranker

        return Qwen3VLReranker(self.model_name, **core_kwargs(self.model_kwargs))

    # -- scores ----------------------------------------------------------------------------------
    def _instruction_kwargs(self) -> dict[str, Any]:
        return {} if self.instruction is None else {"instruction": self.instruction}

    def rerank(self, documents: Sequence[Any], query: Any, top_n: int | None = None) -> list[dict[str, Any]]:
        """``[{"index": i, "relevance_score": s}, ...]``, best first; ``top_n=None`` ranks all documents.

        ``documents`` are LangChain ``Document`` objects or core items; ``query`` is a string or any core
        item (e.g. ``{"image": "query.png"}``).
        """
        if not documents:
            return []
        _check_space(documents)
        ranked = self.client.rerank(query, [_item(d) for d in documents], top_n=top_n, **self._instruction_kwargs())
        return [{"index": int(i), "relevance_score": float(s)} for i, s in ranked]

    async def arerank(self, documents: Sequence[Any], query: Any, top_n: int | None = None) -> list[dict[str, Any]]:
        if not documents:
            return []
        _check_space(documents)
        client = await self._aclient()
        ranked = await client.arerank(query, [_item(d) for d in documents], top_n=top_n,
                                      **self._instruction_kwargs())
        return [{"index": int(i), "relevance_score": float(s)} for i, s in ranked]

    # -- BaseDocumentCompressor ------------------------------------------------------------------
    @staticmethod
    def _scored(documents: Sequence[Document], results: list[dict[str, Any]]) -> list[Document]:
        out = []
        for result in results:
            document = documents[result["index"]]
            metadata = {**document.metadata, "relevance_score": result["relevance_score"]}
            out.append(document.model_copy(update={"metadata": metadata}))  # keeps id, leaves the input alone
        return out

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """The ``top_n`` most relevant documents, best first, each with ``metadata["relevance_score"]``."""
        documents = list(documents)
        return self._scored(documents, self.rerank(documents, query, top_n=self.top_n))

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        documents = list(documents)
        return self._scored(documents, await self.arerank(documents, query, top_n=self.top_n))


def _check_space(documents: Sequence[Any]) -> None:
    """Documents stamped with different embedding spaces (one store, two models) cannot be ranked together."""
    check_documents_space([getattr(d, "metadata", None) for d in documents])
