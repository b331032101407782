"""``Qwen3PDFLoader``: one LangChain ``Document`` per PDF page, stored and reranked as the page image.

``page_content`` is the page's text layer and the metadata follows LangChain's PDF loaders (``source``, a
0-based ``page``, ``page_label``, ``total_pages``) plus ``pdf_page``, the 1-based page number by which
``Qwen3VLRerank`` and :func:`add_documents` find and render the page. A vector store only hands its
embeddings the texts, so store pages with :func:`~qwen3_vl_rag.integrations.langchain.add_documents`:
it has ``Qwen3VLEmbeddings`` embed each page document as its page image.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from qwen3_vl_rag.core.documents import page_labels, page_text

from .._shared import PDF_PAGE_METADATA_KEY, page_from_metadata


class Qwen3PDFLoader(BaseLoader):
    """Loads a PDF file lazily, one ``Document`` per page. Encrypted PDFs are refused: decrypt them first,
    or embed their pages through the core API (``{"pdf": ..., "page": n, "password": ...}``)."""

    def __init__(self, file_path: str | Path) -> None:
        self.file_path = str(file_path)

    def lazy_load(self) -> Iterator[Document]:
        path = Path(self.file_path).expanduser().resolve()
        labels = page_labels(path)
        for number, label in enumerate(labels, start=1):
            yield Document(page_content=page_text(path, number),
                           metadata={"source": self.file_path, "page": number - 1, "page_label": label,
                                     "total_pages": len(labels), PDF_PAGE_METADATA_KEY: number})


# -- how add_documents has page documents embedded as their page image --------------------------------------
# (text, item) of every document add_documents is storing, in order: the store hands embed_documents the
# texts (perhaps in several batches); a batch equal to the next texts here is embedded as these items.
_STORING: contextvars.ContextVar[list[tuple[str, Any]] | None] = contextvars.ContextVar("qwen3_pdf_storing",
                                                                                        default=None)


@contextlib.contextmanager
def storing(documents: Sequence[Document]) -> Iterator[None]:
    """While a store adds ``documents``, embed each PDF-page document as its page image."""
    pending = [(d.page_content, page_from_metadata(d.metadata)) for d in documents]
    if all(item is None for _, item in pending):
        yield
        return
    token = _STORING.set(pending)
    try:
        yield
    finally:
        _STORING.reset(token)
    if any(item is not None for _, item in pending):  # never a page stored under its text layer's vector
        raise RuntimeError(f"{_unembedded(pending)}the vector store did not hand the page documents' texts to "
                           "Qwen3VLEmbeddings.embed_documents in order, so their page images were not embedded; "
                           "embed the pages with embeddings.embed_multimodal([{'pdf': ..., 'page': n}]) and store "
                           "the vectors with the store's own add_embeddings")


def _unembedded(pending: list[tuple[str, Any]]) -> str:
    return f"{sum(item is not None for _, item in pending)} PDF page(s) left unembedded: "


def stored_pages(texts: Sequence[str]) -> list[Any] | None:
    """The page items of ``texts`` when they are the next documents ``storing`` expects (None for a
    document that is not a page), else None."""
    pending = _STORING.get()
    if not pending or len(texts) > len(pending) or any(t != p for t, (p, _) in zip(texts, pending)):
        return None
    claimed, pending[:] = pending[: len(texts)], pending[len(texts):]
    return [item for _, item in claimed]
