"""Qwen3PDFLoader: one Document per page with LangChain's PDF metadata (0-based ``page``), stored through the
``add_documents`` helper as the page image's vector (InMemoryVectorStore and Chroma), reranked as the page
image."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

pytest.importorskip("pypdfium2")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402

from qwen3_vl_rag.core import Qwen3VLEmbedder, Qwen3VLReranker  # noqa: E402
from qwen3_vl_rag.core.documents import render_page  # noqa: E402
from qwen3_vl_rag.integrations.langchain import (  # noqa: E402
    Qwen3PDFLoader,
    Qwen3VLEmbeddings,
    Qwen3VLRerank,
    add_documents,
)
from qwen3_vl_rag.sample_pdfs import PageSpec, build_pdf, gradient_image  # noqa: E402

MAX_PIXELS = 64 * 32 * 32
PAGES = [PageSpec(lines=["Quarterly report", "Revenue grew"]), PageSpec(lines=["Table"], table=(3, 3)),
         PageSpec(width=792, height=612, lines=["Chart"], image=gradient_image(seed=1))]


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("lc-pdf") / "report.pdf"
    path.write_bytes(build_pdf(PAGES))
    return path


@pytest.fixture(scope="module")
def core_embedder(tiny_vl_path):
    return Qwen3VLEmbedder(str(tiny_vl_path), max_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def page_vectors(core_embedder, pdf_path):
    return core_embedder.embed_documents([render_page(pdf_path, n, max_pixels=MAX_PIXELS) for n in (1, 2, 3)])


def _close(vectors, expected):
    vectors, expected = np.asarray(vectors, np.float32), np.asarray(expected, np.float32)
    cosines = (vectors * expected).sum(-1) / np.linalg.norm(vectors, axis=-1) / np.linalg.norm(expected, axis=-1)
    assert (cosines >= 0.99999).all(), cosines


def test_one_document_per_page_with_langchain_pdf_metadata(pdf_path):
    loader = Qwen3PDFLoader(pdf_path)
    assert inspect.isgenerator(loader.lazy_load())
    documents = loader.load()
    assert [d.metadata["page"] for d in documents] == [0, 1, 2]  # 0-based, as PyPDFLoader
    assert [d.metadata["page_label"] for d in documents] == ["1", "2", "3"]
    assert all(d.metadata["source"] == str(pdf_path) and d.metadata["total_pages"] == 3 for d in documents)
    assert documents[0].page_content == "Quarterly report\nRevenue grew"


def test_add_documents_stores_the_page_image_vectors(pdf_path, core_embedder, page_vectors):
    embeddings = Qwen3VLEmbeddings(embedder=core_embedder)
    store = InMemoryVectorStore(embeddings)
    text = Document(page_content="a plain text document")
    ids = add_documents(store, Qwen3PDFLoader(pdf_path).load() + [text])
    stored = [store.store[i]["vector"] for i in ids]
    _close(stored[:3], page_vectors)
    _close(stored[3:], core_embedder.embed_documents(["a plain text document"]))
    # outside add_documents a store hands the embeddings texts: the text layer is embedded (no hidden state left)
    assert not np.allclose(embeddings.embed_documents([Qwen3PDFLoader(pdf_path).load()[0].page_content])[0],
                           page_vectors[0], atol=1e-3)


def test_add_documents_into_chroma_in_batches(pdf_path, core_embedder, page_vectors):
    chromadb = pytest.importorskip("chromadb")
    from langchain_chroma import Chroma

    client = chromadb.EphemeralClient(settings=chromadb.config.Settings(anonymized_telemetry=False))
    store = Chroma(collection_name="pages", embedding_function=Qwen3VLEmbeddings(embedder=core_embedder),
                   client=client)
    ids = add_documents(store, Qwen3PDFLoader(pdf_path).load())
    got = store.get(ids=ids, include=["embeddings"])
    by_id = dict(zip(got["ids"], got["embeddings"]))
    _close([by_id[i] for i in ids], page_vectors)


async def test_async_add_documents_stores_the_page_image_vectors(pdf_path, core_embedder, page_vectors):
    store = InMemoryVectorStore(Qwen3VLEmbeddings(embedder=core_embedder))
    documents = Qwen3PDFLoader(pdf_path).load()
    from qwen3_vl_rag.integrations.langchain.pdf import storing

    with storing(documents):
        ids = await store.aadd_documents(documents)
    _close([store.store[i]["vector"] for i in ids], page_vectors)


def test_the_reranker_scores_the_page_image(pdf_path, tiny_vl_path):
    reranker = Qwen3VLReranker(str(tiny_vl_path), max_pixels=MAX_PIXELS)
    documents = Qwen3PDFLoader(pdf_path).load()
    ranked = Qwen3VLRerank(reranker=reranker).compress_documents(documents, "revenue table")
    by_page = {d.metadata["page"]: d.metadata["relevance_score"] for d in ranked}
    expected = reranker.score("revenue table", [render_page(pdf_path, n, max_pixels=MAX_PIXELS) for n in (1, 2, 3)])
    np.testing.assert_allclose([by_page[p] for p in (0, 1, 2)], expected, atol=1e-5)


def test_a_store_that_reorders_the_texts_is_an_error_not_a_text_layer_vector(pdf_path, core_embedder):
    class Reversing(InMemoryVectorStore):
        def add_documents(self, documents, **kwargs):
            self.embedding.embed_documents([d.page_content for d in documents][::-1])
            return []

    store = Reversing(Qwen3VLEmbeddings(embedder=core_embedder))
    with pytest.raises(RuntimeError, match="3 PDF page"):
        add_documents(store, Qwen3PDFLoader(pdf_path).load())
