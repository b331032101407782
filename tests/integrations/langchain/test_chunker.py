"""Qwen3SemanticChunker: the core chunker as a LangChain TextSplitter, with exact start offsets."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_text_splitters import TextSplitter

from qwen3_vl_rag.core.chunking import SemanticChunker, token_counter_from_tokenizer
from qwen3_vl_rag.integrations.langchain import Qwen3SemanticChunker, Qwen3VLEmbeddings

PARAGRAPH = (
    "Solar panels convert sunlight into electricity. Output falls on cloudy days and at night. "
    "Batteries store the surplus for the evening.\n\n"
    "The eastern region led revenue growth. The western region declined slightly. "
    "Next quarter the team will focus on renewals.\n\n"
    "北京是中国的首都。这是一个中文句子！天气很好。\n"
)
TEXT = PARAGRAPH * 3  # repeated chunks: a str.find guess would be ambiguous, offsets must still be exact


@pytest.fixture(scope="module")
def splitter(text_embedder):
    return Qwen3SemanticChunker(embedder=text_embedder, max_tokens=24, add_start_index=True)


def test_start_index_points_into_the_source(splitter, text_embedder):
    docs = splitter.create_documents([TEXT], metadatas=[{"source": "a.txt"}])
    assert isinstance(splitter, TextSplitter) and len(docs) > 6
    starts = [d.metadata["start_index"] for d in docs]
    for doc, start in zip(docs, starts):
        assert TEXT[start:start + len(doc.page_content)] == doc.page_content
        assert doc.metadata["source"] == "a.txt"
    assert starts == sorted(set(starts))
    core = SemanticChunker(text_embedder, token_counter_from_tokenizer(text_embedder.tokenizer), max_tokens=24)
    chunks = core.split(TEXT)
    assert [(d.page_content, d.metadata["start_index"]) for d in docs] == [(c.text, c.start) for c in chunks]
    repeated = [d.metadata["start_index"] for d in docs if d.page_content == docs[0].page_content]
    assert len(repeated) == 3 and repeated[1] - repeated[0] == len(PARAGRAPH)


def test_chunks_respect_the_token_bound(splitter, text_embedder):
    chunks = splitter.split_text(TEXT)
    counts = text_embedder.count_tokens(chunks)
    assert chunks and max(counts) <= 24
    assert splitter.split_text("") == [] and splitter.split_text("   \n") == []


def test_split_documents_copies_metadata_per_chunk(splitter):
    source = [Document(page_content=TEXT, metadata={"source": "x", "tags": ["t"]}, id="d1"),
              Document(page_content=PARAGRAPH, metadata={"source": "y"})]
    docs = splitter.split_documents(source)
    assert {d.metadata["source"] for d in docs} == {"x", "y"}
    x_docs = [d for d in docs if d.metadata["source"] == "x"]
    x_docs[0].metadata["tags"].append("changed")
    assert source[0].metadata["tags"] == ["t"] and x_docs[1].metadata["tags"] == ["t"]
    for doc in docs:
        text = TEXT if doc.metadata["source"] == "x" else PARAGRAPH
        start = doc.metadata["start_index"]
        assert text[start:start + len(doc.page_content)] == doc.page_content
    assert [d.page_content for d in splitter.transform_documents(source)] == [d.page_content for d in docs]


def test_without_add_start_index_there_is_no_offset(text_embedder):
    plain = Qwen3SemanticChunker(embedder=text_embedder, max_tokens=24)
    docs = plain.create_documents([PARAGRAPH])
    assert docs and all(d.metadata == {} for d in docs)


def test_built_from_a_model_directory_lazily(tiny_text_path, splitter, tmp_path):
    named = Qwen3SemanticChunker(str(tiny_text_path), max_tokens=24, add_start_index=True)
    assert named.model_name == str(tiny_text_path)
    assert named.split_text(TEXT) == splitter.split_text(TEXT)
    missing = Qwen3SemanticChunker(str(tmp_path / "absent"), max_tokens=24, lazy=True)  # loads nothing yet
    with pytest.raises(OSError):
        missing.split_text(TEXT)
    with pytest.raises(OSError):  # the default: the model loads at construction, a missing one fails there
        Qwen3SemanticChunker(str(tmp_path / "absent"), max_tokens=24)


def test_langchain_embeddings_as_the_boundary_model(vl_embedder, text_embedder):
    boundary = Qwen3VLEmbeddings(embedder=vl_embedder)
    counter = token_counter_from_tokenizer(text_embedder.tokenizer)
    splitter = Qwen3SemanticChunker(embedder=boundary, count_tokens=counter, max_tokens=30,
                                    breakpoint_type="gradient", add_start_index=True)
    docs = splitter.create_documents([TEXT])
    assert docs and all(TEXT[d.metadata["start_index"]:].startswith(d.page_content) for d in docs)


def test_argument_errors(text_embedder):
    with pytest.raises(TypeError, match="accepts: .*breakpoint_threshold_type"):
        Qwen3SemanticChunker(embedder=text_embedder, breakpoint_percentile=95)
    with pytest.raises(ValueError, match="not both"):
        Qwen3SemanticChunker("Qwen/Qwen3-Embedding-0.6B", embedder=text_embedder)
    with pytest.raises(ValueError):
        Qwen3SemanticChunker(embedder=text_embedder, max_tokens=10, min_tokens=10)
    with pytest.raises(ValueError, match="metadatas"):
        Qwen3SemanticChunker(embedder=text_embedder).create_documents(["a", "b"], metadatas=[{}])


def test_heading_path_goes_to_metadata(text_embedder):
    text = ("# Energy\n\nSolar panels convert sunlight into electricity. Batteries store the surplus.\n\n"
            "## Sales\n\nThe eastern region led revenue growth. The western region declined slightly.")
    chunker = Qwen3SemanticChunker(embedder=text_embedder, max_tokens=16, heading_path=True, add_start_index=True)
    docs = chunker.create_documents([text])
    assert {d.metadata.get("heading_path") for d in docs} >= {"Energy", "Energy > Sales"}
    for doc in docs:
        start = doc.metadata["start_index"]
        assert text[start:start + len(doc.page_content)] == doc.page_content  # page_content is the exact slice
    chunks = chunker.split_chunks([text])[0]
    assert max(text_embedder.count_tokens([c.embedding_text for c in chunks])) <= 16
    plain = Qwen3SemanticChunker(embedder=text_embedder, max_tokens=16).create_documents([text])
    assert all("heading_path" not in d.metadata for d in plain)
