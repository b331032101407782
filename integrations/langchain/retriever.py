"""``Qwen3VLTwoStageRetriever``: two-stage Matryoshka retrieval (coarse prefetch + full rescore) for LangChain.

Documents (text, or with an image / video named in their metadata, the rule ``Qwen3VLRerank`` uses)
share one Qdrant collection (``qwen3_vl_rag.core.retrieval.TwoStageIndex``), each embedded once at full
size. ``invoke("text")`` or ``invoke({"image": "query.png"})`` (any core item) returns copies of the
stored documents with ``id``, ``metadata["embedding_space"]`` and ``metadata["retrieval_score"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY
from qwen3_vl_rag.core.retrieval import TwoStageIndex

from .._shared import two_stage_index
from .embeddings import Qwen3VLEmbeddings
from .rerank import _item as document_to_item  # one rule for what a document is, shared with the reranker

CONTENT_KEY = "page_content"  # the payload layout of langchain-qdrant
METADATA_KEY = "metadata"



def add_documents(index: TwoStageIndex, documents: Sequence[Document], ids: Sequence[str] | None = None, *,
                  batch_size: int = 64) -> list[str]:
    """Embed ``documents`` once at full size and store them; returns their ids (``ids``, else each
    ``Document.id``, else a new UUID)."""
    documents = list(documents)
    if ids is None:
        ids = [d.id for d in documents]
    if len(ids) != len(documents):
        raise ValueError(f"got {len(documents)} documents and {len(ids)} ids")
    ids = [str(i) if i is not None else None for i in ids]
    items = [document_to_item(d) for d in documents]
    payloads = [{CONTENT_KEY: d.page_content, METADATA_KEY: dict(d.metadata)} for d in documents]
    missing = [i for i, value in enumerate(ids) if value is None]
    if missing:
        import uuid

        for i in missing:
            ids[i] = str(uuid.uuid4())
    return [str(i) for i in index.add(items, ids=ids, payloads=payloads, batch_size=batch_size)]


class Qwen3VLTwoStageRetriever(BaseRetriever):
    """The ``k`` most similar documents: coarse Matryoshka candidates, rescored with full-size vectors.

    Example:
        .. code-block:: python

            from qwen3_vl_rag.core import Qwen3VLEmbedder
            from qwen3_vl_rag.integrations.langchain import Qwen3VLRerank, Qwen3VLTwoStageRetriever

            retriever = Qwen3VLTwoStageRetriever.from_documents(docs, Qwen3VLEmbedder(), "qdrant_data", k=20)
            hits = retriever.invoke({"image": "query.png"})          # or a text query
            best = Qwen3VLRerank(top_n=3).compress_documents(hits, "query text")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    index: Any = Field(exclude=True)
    """A ``qwen3_vl_rag.core.retrieval.TwoStageIndex``."""
    k: int = Field(default=10, ge=1)
    """Documents returned per query."""
    candidates: int | None = Field(default=None, ge=1)
    """Coarse candidates rescored per query; ``None`` uses the index's rule (``max(10 * k, 100)``)."""
    query_filter: Any = None
    """A ``qdrant_client.models.Filter`` on the payload (document metadata is under ``metadata.``)."""

    @model_validator(mode="after")
    def _check(self) -> Qwen3VLTwoStageRetriever:
        if not isinstance(self.index, TwoStageIndex):
            raise ValueError(f"index must be a TwoStageIndex, got {type(self.index).__name__}")
        if self.candidates is not None and self.candidates < self.k:
            raise ValueError(f"candidates ({self.candidates}) must be >= k ({self.k})")
        return self

    @classmethod
    def from_documents(cls, documents: Sequence[Document], embedding: Any, location: str = ":memory:", *,
                       ids: Sequence[str] | None = None, index_kwargs: dict[str, Any] | None = None,
                       **kwargs: Any) -> Qwen3VLTwoStageRetriever:
        """Build a ``TwoStageIndex`` at ``location`` with ``embedding`` (``Qwen3VLEmbeddings`` or a core
        embedder), add ``documents`` and return a retriever over it (``kwargs`` go to the retriever)."""
        index = two_stage_index(embedding, Qwen3VLEmbeddings, location, index_kwargs)
        add_documents(index, documents, ids)
        return cls(index=index, **kwargs)

    def add_documents(self, documents: Sequence[Document], ids: Sequence[str] | None = None) -> list[str]:
        """Store more documents (see :func:`add_documents`)."""
        return add_documents(self.index, documents, ids)

    def _get_relevant_documents(self, query: Any, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        if query is None or (isinstance(query, str) and not query.strip()):
            raise ValueError("the query is empty: pass a text or a core item such as {'image': 'query.png'}")
        hits = self.index.search(query, k=self.k, candidates=self.candidates, query_filter=self.query_filter)
        documents = []
        for hit in hits:
            metadata = {**hit.payload.get(METADATA_KEY, {}), SPACE_METADATA_KEY: hit.payload[SPACE_METADATA_KEY],
                        "retrieval_score": hit.score}
            documents.append(Document(page_content=hit.payload.get(CONTENT_KEY, ""), metadata=metadata,
                                      id=str(hit.id)))
        return documents
