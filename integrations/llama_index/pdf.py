"""``Qwen3PDFReader``: one ``ImageDocument`` per PDF page, embedded and reranked as the page image.

Each document's text is the page's text layer (for the LLM and keyword search); its metadata follows
LlamaIndex's PDF readers (``file_name``, ``file_path``, ``page_label``, ``total_pages``) plus ``pdf_page``,
the 1-based page number by which ``Qwen3VLEmbedding`` and ``Qwen3VLRerank`` find and render the page
(nothing is rendered while reading: pixels are made when the page's batch is embedded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document, ImageDocument

from qwen3_vl_rag.core.documents import page_labels, page_text

from .._shared import PDF_PAGE_METADATA_KEY


class Qwen3PDFReader(BaseReader):
    """Reads a PDF file into one ``ImageDocument`` per page (``SimpleDirectoryReader``'s ``file_extractor``
    too: ``{".pdf": Qwen3PDFReader()}``). Encrypted PDFs are refused: decrypt them first, or embed their
    pages through the core API (``{"pdf": ..., "page": n, "password": ...}``)."""

    def load_data(self, file: Path | str, extra_info: dict[str, Any] | None = None,
                  fs: Any = None) -> list[Document]:
        if fs is not None:
            raise ValueError("Qwen3PDFReader reads local files only (fs= is not supported)")
        path = Path(file).expanduser().resolve()
        labels = page_labels(path)
        documents: list[Document] = []
        for number, label in enumerate(labels, start=1):
            metadata = {"file_name": path.name, "file_path": str(path), "page_label": label,
                        "total_pages": len(labels), PDF_PAGE_METADATA_KEY: number, **(extra_info or {})}
            documents.append(ImageDocument(text=page_text(path, number), metadata=metadata,
                                           image_mimetype="image/png",
                                           excluded_llm_metadata_keys=[PDF_PAGE_METADATA_KEY],
                                           excluded_embed_metadata_keys=[PDF_PAGE_METADATA_KEY]))
        return documents
