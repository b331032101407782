"""Qwen3SemanticChunker: the core semantic chunker as a LangChain ``TextSplitter`` (exact start offsets)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import TextSplitter

from qwen3_vl_rag.core.chunking import Chunk, SemanticChunker

from .._lazy import LazyBoundaryEmbedder
from .._shared import BOUNDARY_MODEL as DEFAULT_MODEL_NAME
from .._shared import (
    MODEL_ARGUMENTS,
    MODEL_KWARGS_ALIASES,
    SEMANTIC_CHUNKER_ALIASES,
    default_token_counter,
    refuse_unknown,
    rename_aliases,
    take_model_arguments,
)


class Qwen3SemanticChunker(TextSplitter):
    """Splits text where the meaning shifts, with a hard token bound per chunk and exact offsets.

    A LangChain ``TextSplitter`` over :class:`qwen3_vl_rag.core.chunking.SemanticChunker`. The boundary
    model is a Qwen3-Embedding model loaded from ``model_name`` (default ``Qwen/Qwen3-Embedding-0.6B``)
    at construction (``lazy=True``: on first use), or the embeddings you pass, positionally as in
    LangChain's ``SemanticChunker(embeddings)`` or as ``embedder=`` / ``embeddings=`` (anything with
    ``embed_documents(texts)``, any LangChain ``Embeddings`` included), with a batch token counter
    ``count_tokens`` (default: the embedder's tokenizer, else a tokenizer-free approximation). LangChain's
    ``breakpoint_threshold_type`` / ``breakpoint_threshold_amount`` are accepted for ``breakpoint_type`` /
    ``breakpoint_amount``; ``device``, ``max_length``, ``cache_folder``, ... reach the boundary model.
    With ``add_start_index=True`` each chunk's ``metadata["start_index"]`` is its exact offset in the source.
    With ``heading_path=True`` each chunk's Markdown heading path is ``metadata["heading_path"]`` (``"A > B"``)
    and path + chunk fit ``max_tokens``; ``page_content`` stays the exact source slice (``split_chunks`` gives
    ``Chunk.embedding_text``).

    Example:
        .. code-block:: python

            from qwen3_vl_rag.integrations.langchain import Qwen3SemanticChunker

            splitter = Qwen3SemanticChunker(max_tokens=512, add_start_index=True)
            chunks = splitter.split_documents(docs)
    """

    def __init__(
        self,
        model_name: Any = None,
        *,
        embedder: Any = None,
        count_tokens: Callable[[list[str]], Sequence[int]] | None = None,
        model_kwargs: dict[str, Any] | None = None,
        max_tokens: int = 512,
        min_tokens: int | None = None,
        buffer_size: int = 1,
        breakpoint_type: str | None = None,  # None: "percentile"
        breakpoint_amount: float | None = None,
        batch_size: int = 64,
        add_start_index: bool = False,
        heading_path: bool = False,
        lazy: bool = False,
        **aliases: Any,
    ) -> None:
        owner = type(self).__name__
        accepted = {"model_name", "embedder", "count_tokens", "model_kwargs", "max_tokens", "min_tokens",
                    "buffer_size", "breakpoint_type", "breakpoint_amount", "batch_size", "add_start_index", "lazy",
                    "heading_path",
                    *SEMANTIC_CHUNKER_ALIASES, *MODEL_ARGUMENTS, *MODEL_KWARGS_ALIASES}
        refuse_unknown(owner, set(aliases) - accepted, accepted)
        if model_name is not None and not isinstance(model_name, (str, os.PathLike)):  # SemanticChunker(embeddings)
            if embedder is not None:
                raise ValueError(f"{owner}: embeddings given twice (positionally and as embedder=)")
            model_name, embedder = None, model_name
        given = {"embedder": embedder, "breakpoint_type": breakpoint_type, "breakpoint_amount": breakpoint_amount,
                 "model_kwargs": model_kwargs, **aliases}
        resolved = rename_aliases(owner, {k: v for k, v in given.items() if v is not None}, SEMANTIC_CHUNKER_ALIASES)
        embedder = resolved.pop("embedder", None)
        breakpoint_type = resolved.pop("breakpoint_type", "percentile")
        breakpoint_amount = resolved.pop("breakpoint_amount", None)
        if embedder is not None and model_name is not None:
            raise ValueError(f"{owner}: pass either embeddings (embedder=) or model_name=, not both")
        model_kwargs = take_model_arguments(owner, resolved, instance=embedder).get("model_kwargs")
        if embedder is not None:
            boundary_embedder, counter = embedder, count_tokens or default_token_counter(embedder)
        else:
            model_name = model_name or DEFAULT_MODEL_NAME
            boundary = LazyBoundaryEmbedder(model_name, model_kwargs or {}, count_tokens)
            boundary_embedder, counter = boundary, boundary.count_tokens
            if not lazy:
                boundary.load()  # load now: a missing model fails at construction
        self.model_name = model_name or getattr(embedder, "model_name", None)
        self.chunker = SemanticChunker(
            boundary_embedder, counter, max_tokens=max_tokens, min_tokens=min_tokens, buffer_size=buffer_size,
            breakpoint_type=breakpoint_type, breakpoint_amount=breakpoint_amount, batch_size=batch_size,
            heading_path=heading_path,
        )
        # chunk_size / length_function keep TextSplitter's attributes meaningful (tokens, never overlapping).
        super().__init__(chunk_size=max_tokens, chunk_overlap=0, length_function=lambda text: counter([text])[0],
                         add_start_index=add_start_index, strip_whitespace=False)

    def split_chunks(self, texts: Iterable[str]) -> list[list[Chunk]]:
        """The core ``Chunk`` objects (``text``, ``start``, ``end``, ``token_count``), one list per text."""
        return self.chunker.split_many(texts)

    def split_text(self, text: str) -> list[str]:
        """The chunks of one text; empty or whitespace-only text gives ``[]``."""
        return [chunk.text for chunk in self.chunker.split(text)]

    def create_documents(self, texts: list[str], metadatas: list[dict[Any, Any]] | None = None) -> list[Document]:
        """One ``Document`` per chunk, copying each text's metadata; texts share embedding batches.

        With ``add_start_index`` the chunk's exact source offset is stored as ``metadata["start_index"]``.
        """
        texts = list(texts)
        if metadatas is not None and len(metadatas) != len(texts):
            raise ValueError(f"got {len(metadatas)} metadatas for {len(texts)} texts")
        documents = []
        for i, chunks in enumerate(self.split_chunks(texts)):
            for chunk in chunks:
                metadata = copy.deepcopy(metadatas[i]) if metadatas is not None else {}
                if self._add_start_index:
                    metadata["start_index"] = chunk.start
                if chunk.headings:
                    metadata["heading_path"] = " > ".join(chunk.headings)
                documents.append(Document(page_content=chunk.text, metadata=metadata))
        return documents

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_name={self.model_name!r}, chunker={self.chunker!r})"
