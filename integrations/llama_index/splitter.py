"""``Qwen3SemanticSplitter``: the core semantic chunker as a LlamaIndex ``NodeParser``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr, field_serializer
from llama_index.core.node_parser import NodeParser
from llama_index.core.node_parser.node_utils import build_nodes_from_splits
from llama_index.core.schema import BaseNode, Document, ImageDocument, MetadataMode
from llama_index.core.utils import get_tqdm_iterable

from .._lazy import LazyBoundaryEmbedder
from .._shared import BOUNDARY_MODEL as DEFAULT_MODEL
from .._shared import (
    MODEL_ARGUMENTS,
    MODEL_KWARGS_ALIASES,
    SEMANTIC_CHUNKER_ALIASES,
    default_token_counter,
    jsonable_model_kwargs,
    refuse_unknown,
    rename_aliases,
    take_model_arguments,
)
from ._nodes import has_media

HEADING_PATH_KEY = "heading_path"

class _LlamaIndexEmbedder:
    """``embed_documents`` over a LlamaIndex ``BaseEmbedding`` (``embed_model=``), for the core chunker."""

    def __init__(self, embed_model: Any) -> None:
        self.embed_model = embed_model
        self.model_name = getattr(embed_model, "model_name", None)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_model.get_text_embedding_batch(list(texts))


class Qwen3SemanticSplitter(NodeParser):
    """Splits text where the meaning shifts, with a hard token bound and exact character offsets.

    Boundaries come from a text embedder (default ``Qwen/Qwen3-Embedding-0.6B`` via the core's
    ``Qwen3TextEmbedder``, loaded at construction; ``lazy=True``: on first use), or ``embed_model=`` any
    LlamaIndex embedding (as ``SemanticSplitterNodeParser`` takes it), or ``embedder=`` any object with
    ``embed_documents``; tokens are counted with ``count_tokens=``, else that embedder's tokenizer, else a
    tokenizer-free approximation. ``breakpoint_percentile_threshold`` (LlamaIndex) and
    ``breakpoint_threshold_type`` / ``breakpoint_threshold_amount`` (LangChain) are accepted. Every chunk
    plus the node's metadata string (``MetadataMode.EMBED``) fits in ``max_tokens``. Nodes carrying an
    image or video pass through unsplit (an ``ImageDocument`` becomes one ``ImageNode``, as LlamaIndex builds it).
    """

    model_name: str = Field(default=DEFAULT_MODEL, description="Hub id or local path of the boundary model.")
    max_tokens: int = Field(default=512, gt=0, description="Hard bound on chunk + metadata tokens.")
    min_tokens: int | None = Field(
        default=None, description="Smaller chunks merge into a neighbour; None: min(32, max_tokens // 4)."
    )
    buffer_size: int = Field(default=1, ge=0, description="Extra units in the windows before and after each gap.")
    breakpoint_type: str = Field(
        default="percentile",
        description="percentile, standard_deviation, interquartile, gradient or absolute.",
    )
    breakpoint_amount: float | None = Field(default=None, description="The method's threshold; None: its default.")
    batch_size: int = Field(default=64, gt=0, description="Sentence windows per embedding call.")
    heading_path: bool = Field(
        default=False,
        description="Put each chunk's Markdown heading path ('A > B') in metadata['heading_path'] (embedded "
        "with the chunk) and keep chunk + metadata within max_tokens.",
    )
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the local Qwen3TextEmbedder."
    )
    lazy: bool = Field(default=False, description="Load the boundary model on first use, not at construction.")

    _embedder: Any = PrivateAttr()
    _count_tokens: Callable[[list[str]], Sequence[int]] = PrivateAttr()

    def __init__(
        self,
        model_name: str | None = None,
        *,
        embedder: Any = None,
        count_tokens: Callable[[list[str]], Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        kwargs = rename_aliases(owner, {"embedder": embedder, **kwargs} if embedder is not None else kwargs,
                                SEMANTIC_CHUNKER_ALIASES)
        embedder = kwargs.pop("embedder", None)
        percentile = kwargs.pop("breakpoint_percentile_threshold", None)
        if percentile is not None:  # SemanticSplitterNodeParser's only threshold
            if kwargs.get("breakpoint_type", "percentile") != "percentile" or kwargs.get("breakpoint_amount"):
                raise ValueError(f"{owner}: breakpoint_percentile_threshold= conflicts with breakpoint_type/amount")
            kwargs.update(breakpoint_type="percentile", breakpoint_amount=percentile)
        accepted = {*type(self).model_fields, "embedder", "count_tokens", *SEMANTIC_CHUNKER_ALIASES,
                    "breakpoint_percentile_threshold", *MODEL_ARGUMENTS, *MODEL_KWARGS_ALIASES}
        refuse_unknown(owner, set(kwargs) - accepted, accepted)
        kwargs = take_model_arguments(owner, kwargs, instance=embedder)
        if embedder is not None:
            if hasattr(embedder, "get_text_embedding_batch") and not callable(getattr(embedder, "embed_documents",
                                                                                       None)):
                embedder = _LlamaIndexEmbedder(embedder)  # a LlamaIndex embed_model
            own_name = getattr(embedder, "model_name", None)
            if model_name is not None and own_name is not None and model_name != own_name:
                raise ValueError(f"model_name={model_name!r} conflicts with the embedder's {own_name!r}")
            model_name = model_name or own_name
        super().__init__(model_name=model_name or DEFAULT_MODEL, **kwargs)
        if embedder is None:
            embedder = LazyBoundaryEmbedder(self.model_name, self.model_kwargs, count_tokens)
            if not self.lazy:
                embedder.load()
            self._count_tokens = count_tokens or embedder.count_tokens
        else:
            source = getattr(embedder, "embed_model", embedder)
            self._count_tokens = count_tokens or default_token_counter(source)
        self._embedder = embedder
        self._chunker(self.max_tokens)  # validate the chunking options now

    @classmethod
    def class_name(cls) -> str:
        return "Qwen3SemanticSplitter"

    @field_serializer("model_kwargs")
    def _serialise_model_kwargs(self, value: dict[str, Any]) -> dict[str, Any]:
        return jsonable_model_kwargs(value, type(self).__name__)

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> Qwen3SemanticSplitter:
        """Rebuild from ``to_dict()``. ``NodeParser`` serialises ``id_func`` as its name only, which its own
        ``from_dict`` cannot read back (llama-index-core 0.14); the default is restored, a custom one must be
        passed again as ``id_func=``."""
        data = dict(data)
        id_func = data.get("id_func")
        if isinstance(id_func, dict):
            if id_func.get("id_func_name") != "default_id_func" and "id_func" not in kwargs:
                raise ValueError(f"pass id_func= again: {id_func.get('id_func_name')!r} cannot be restored by name")
            data.pop("id_func")
        return super().from_dict(data, **kwargs)

    def _chunker(self, max_tokens: int) -> Any:
        from qwen3_vl_rag.core.chunking import SemanticChunker

        min_tokens = self.min_tokens if self.min_tokens is None else min(self.min_tokens, max_tokens - 1)
        return SemanticChunker(
            self._embedder, self._count_tokens, max_tokens=max_tokens, min_tokens=min_tokens,
            buffer_size=self.buffer_size, breakpoint_type=self.breakpoint_type,
            breakpoint_amount=self.breakpoint_amount, batch_size=self.batch_size, heading_path=self.heading_path,
        )

    def _budget(self, node: BaseNode) -> int:
        """``max_tokens`` minus what the node's metadata adds to each chunk's embedded text (the heading path
        itself is bounded by the core chunker, its ``heading_path: `` key here)."""
        if not self.include_metadata:
            return self.max_tokens
        metadata_str = node.get_metadata_str(mode=MetadataMode.EMBED)
        key = f"{HEADING_PATH_KEY}: " if self.heading_path else ""
        if not metadata_str and not key:
            return self.max_tokens
        if metadata_str and key:
            key = node.metadata_separator + key
        overhead = node.text_template.format(metadata_str=metadata_str + key, content="")
        budget = self.max_tokens - int(self._count_tokens([overhead])[0])
        if budget < 1:
            raise ValueError(
                f"the metadata of node {node.node_id} takes {self.max_tokens - budget} tokens in MetadataMode.EMBED, "
                f"leaving none of max_tokens={self.max_tokens} for text: raise max_tokens or exclude metadata keys "
                "(excluded_embed_metadata_keys)"
            )
        return budget

    def split_text(self, text: str) -> list[str]:
        """Chunk texts of one string (no metadata budget)."""
        return [chunk.text for chunk in self._chunker(self.max_tokens).split(text)]

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any) -> list[BaseNode]:
        # Group text nodes by token budget so each group shares embedding batches (split_many).
        nodes = list(nodes)
        groups: dict[int, list[int]] = {}
        for index, node in enumerate(nodes):
            if not has_media(node):
                groups.setdefault(self._budget(node), []).append(index)
        chunks: dict[int, list[Any]] = {}
        for budget, indices in get_tqdm_iterable(list(groups.items()), show_progress, "Chunking"):
            texts = [nodes[i].get_content(metadata_mode=MetadataMode.NONE) for i in indices]
            chunks.update(zip(indices, self._chunker(budget).split_many(texts)))

        out: list[BaseNode] = []
        for index, node in enumerate(nodes):
            if index not in chunks:  # an image or video node
                if isinstance(node, ImageDocument):
                    out.extend(build_nodes_from_splits([node.text], node, id_func=self.id_func))
                else:
                    out.append(node)
                continue
            pieces = chunks[index]
            built = build_nodes_from_splits([c.text for c in pieces], node, id_func=self.id_func)
            for piece, chunk in zip(built, pieces):
                piece.start_char_idx, piece.end_char_idx = chunk.start, chunk.end
                if chunk.headings:
                    piece.metadata[HEADING_PATH_KEY] = " > ".join(chunk.headings)
            out.extend(built)
        return out

    def _postprocess_parsed_nodes(self, nodes: list[BaseNode], parent_doc_map: dict[str, Document]) -> list[BaseNode]:
        # The base class re-derives offsets with str.find, which can land on an earlier repeat of the
        # same text; the chunker's offsets are exact, so put them back (None stays None: passed-through nodes).
        spans = {id(n): (getattr(n, "start_char_idx", None), getattr(n, "end_char_idx", None)) for n in nodes}
        nodes = super()._postprocess_parsed_nodes(nodes, parent_doc_map)
        for node in nodes:
            if id(node) in spans and hasattr(node, "start_char_idx"):
                node.start_char_idx, node.end_char_idx = spans[id(node)]
        return nodes
