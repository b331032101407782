"""Qwen3PDFReader: one ImageDocument per page with LlamaIndex's PDF metadata, stored as the page image's vector
through VectorStoreIndex, an IngestionPipeline and Qwen3VLVectorStoreIndex, and reranked as the page image."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pypdfium2")

from llama_index.core import SimpleDirectoryReader, VectorStoreIndex  # noqa: E402
from llama_index.core.ingestion import IngestionPipeline  # noqa: E402
from llama_index.core.schema import ImageDocument, NodeWithScore, QueryBundle, TextNode  # noqa: E402

from qwen3_vl_rag.core import Qwen3VLEmbedder, Qwen3VLReranker  # noqa: E402
from qwen3_vl_rag.core.documents import render_page  # noqa: E402
from qwen3_vl_rag.integrations.llama_index import (  # noqa: E402
    Qwen3PDFReader,
    Qwen3VLEmbedding,
    Qwen3VLRerank,
    Qwen3VLVectorStoreIndex,
)
from qwen3_vl_rag.sample_pdfs import PageSpec, build_pdf, gradient_image  # noqa: E402

MAX_PIXELS = 64 * 32 * 32
PAGES = [PageSpec(lines=["Quarterly report", "Revenue grew"]), PageSpec(lines=["Table"], table=(3, 3)),
         PageSpec(width=792, height=612, lines=["Chart"], image=gradient_image(seed=1), rotate=90)]


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("li-pdf") / "report.pdf"
    path.write_bytes(build_pdf(PAGES))
    return path


@pytest.fixture(scope="module")
def core_embedder(tiny_vl_path):
    return Qwen3VLEmbedder(str(tiny_vl_path), max_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def page_vectors(core_embedder, pdf_path):
    images = [render_page(pdf_path, n, max_pixels=MAX_PIXELS) for n in range(1, len(PAGES) + 1)]
    return core_embedder.embed_documents(images)


def _close(vectors, expected):
    vectors, expected = np.asarray(vectors, np.float32), np.asarray(expected, np.float32)
    cosines = (vectors * expected).sum(-1) / np.linalg.norm(vectors, axis=-1) / np.linalg.norm(expected, axis=-1)
    assert (cosines >= 0.99999).all(), cosines


def test_one_image_document_per_page_with_llama_index_pdf_metadata(pdf_path):
    documents = Qwen3PDFReader().load_data(pdf_path, extra_info={"tag": "q3"})
    assert [type(d) for d in documents] == [ImageDocument] * 3
    assert [d.metadata["page_label"] for d in documents] == ["1", "2", "3"]
    first = documents[0].metadata
    assert first["file_name"] == "report.pdf" and first["file_path"] == str(pdf_path.resolve())
    assert first["total_pages"] == 3 and first["tag"] == "q3"
    assert documents[0].text == "Quarterly report\nRevenue grew"
    assert documents[0].image is None and documents[0].image_path is None  # nothing rendered while reading


def test_simple_directory_reader_uses_it_as_the_pdf_extractor(pdf_path):
    reader = SimpleDirectoryReader(input_files=[pdf_path], file_extractor={".pdf": Qwen3PDFReader()})
    documents = reader.load_data()
    assert [d.metadata["page_label"] for d in documents] == ["1", "2", "3"]
    assert documents[1].metadata["file_name"] == "report.pdf"


def test_from_documents_stores_the_page_image_vectors(pdf_path, core_embedder, page_vectors):
    embed_model = Qwen3VLEmbedding(embedder=core_embedder)
    documents = Qwen3PDFReader().load_data(pdf_path)
    for index_class in (VectorStoreIndex, Qwen3VLVectorStoreIndex):
        index = index_class.from_documents(documents + [TextNode(text="a text node")], embed_model=embed_model)
        stored = index.vector_store.data.embedding_dict
        nodes = {n.ref_doc_id: n for n in index.docstore.docs.values() if n.ref_doc_id in {d.doc_id for d in documents}}
        assert [nodes[d.doc_id].metadata["page_label"] for d in documents] == ["1", "2", "3"]  # one node a page
        _close([stored[nodes[d.doc_id].node_id] for d in documents], page_vectors)


def test_ingestion_pipeline_stores_the_page_image_vectors(pdf_path, core_embedder, page_vectors):
    pipeline = IngestionPipeline(transformations=[Qwen3VLEmbedding(embedder=core_embedder)])
    nodes = pipeline.run(documents=Qwen3PDFReader().load_data(pdf_path))
    _close([n.embedding for n in nodes], page_vectors)


def test_the_reranker_scores_the_page_image(pdf_path, tiny_vl_path):
    reranker = Qwen3VLReranker(str(tiny_vl_path), max_pixels=MAX_PIXELS)
    documents = Qwen3PDFReader().load_data(pdf_path)
    nodes = [NodeWithScore(node=d, score=0.0) for d in documents]
    ranked = Qwen3VLRerank(reranker=reranker).postprocess_nodes(nodes, QueryBundle("revenue table"))
    by_page = {n.node.metadata["page_label"]: n.score for n in ranked}
    expected = reranker.score("revenue table", [render_page(pdf_path, n, max_pixels=MAX_PIXELS) for n in (1, 2, 3)])
    np.testing.assert_allclose([by_page[label] for label in ("1", "2", "3")], expected, atol=1e-5)


def test_fs_is_refused(pdf_path):
    with pytest.raises(ValueError, match="local files only"):
        Qwen3PDFReader().load_data(pdf_path, fs=object())
