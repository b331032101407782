"""LangChain adapters: the anchors' argument names (HuggingFaceEmbeddings, CrossEncoderReranker, SemanticChunker),
the LlamaIndex adapters' names as aliases, the dimension, and serialisation with a torch dtype."""

from __future__ import annotations

import json

import pytest
import torch
from langchain_core.embeddings import DeterministicFakeEmbedding

from qwen3_vl_rag.integrations.langchain import Qwen3SemanticChunker, Qwen3VLEmbeddings, Qwen3VLRerank

TEXT = ("Mountains rise above the valley. Hikers climb at dawn. The summit is cold. Quarterly revenue grew. "
        "Sales in Europe doubled. Costs stayed flat. Solar panels turn sunlight into electricity.")


def test_embeddings_anchor_arguments_reach_the_model(tiny_vl_path, tmp_path):
    embeddings = Qwen3VLEmbeddings(model_name=str(tiny_vl_path), device="cpu", max_length=16, show_progress=True,
                                   cache_folder=str(tmp_path), normalize=True, text_instruction="Doc.",
                                   embedder_kwargs={"torch_dtype": torch.float32})
    core = embeddings.client
    assert core.encoder.max_length == 16 and core.options.show_progress is True
    assert embeddings.document_instruction == "Doc." and embeddings.dimension == core.dimension
    data = json.loads(embeddings.model_dump_json())
    assert data["model_kwargs"] == {"torch_dtype": "float32", "device": "cpu", "max_length": 16,
                                    "show_progress": True, "cache_dir": str(tmp_path)}
    with pytest.raises(ValueError, match="normalize=False"):
        Qwen3VLEmbeddings(model_name=str(tiny_vl_path), normalize=False, lazy=True)
    with pytest.raises(ValueError, match="unexpected argument.*encode_kwargs.*accepts:.*cache_folder"):
        Qwen3VLEmbeddings(model_name=str(tiny_vl_path), encode_kwargs={"batch_size": 8}, lazy=True)


def test_rerank_anchor_arguments(tiny_vl_path):
    rerank = Qwen3VLRerank(model=str(tiny_vl_path), device="cpu", max_length=64, reranker_kwargs={"dtype": "float32"})
    assert rerank.client.encoder.max_length < 100 and rerank.top_n is None
    assert rerank.model_kwargs == {"dtype": "float32", "device": "cpu", "max_length": 64}


def test_chunker_takes_embeddings_positionally_and_langchain_threshold_names():
    """SemanticChunker(embeddings, breakpoint_threshold_type=..., breakpoint_threshold_amount=...) is the anchor;
    a foreign embeddings object without a tokenizer falls back to the approximate token counter."""
    chunker = Qwen3SemanticChunker(DeterministicFakeEmbedding(size=8), breakpoint_threshold_type="standard_deviation",
                                   breakpoint_threshold_amount=1.0, buffer_size=1, max_tokens=16)
    chunks = chunker.split_text(TEXT)
    assert chunks and "".join(chunks).replace(" ", "") == TEXT.replace(" ", "")
    assert (chunker.chunker.breakpoint_type, chunker.chunker.breakpoint_amount) == ("standard_deviation", 1.0)
    with pytest.raises(ValueError, match="another name"):
        Qwen3SemanticChunker(embedder=DeterministicFakeEmbedding(size=8), embeddings=DeterministicFakeEmbedding(size=4))


def test_chunker_counts_with_the_qwen_embeddings_tokenizer(vl_embedder):
    embeddings = Qwen3VLEmbeddings(embedder=vl_embedder)
    chunker = Qwen3SemanticChunker(embeddings, max_tokens=12)
    counter = vl_embedder.tokenizer
    assert all(len(counter(c, add_special_tokens=False)["input_ids"]) <= 12 for c in chunker.split_text(TEXT))


def test_dimensions_the_model_cannot_give_are_refused_when_the_model_is_known(tiny_vl_path, vl_embedder):
    """Checked by the core model (issue 23, item 17): at construction when it loads or is passed in, at the first
    use with ``lazy=True``; a remote model of known size without a request, one of unknown size at its answer."""
    from qwen3_vl_rag.core.remote import RemoteEmbedder

    with pytest.raises(ValueError, match="between 1 and 64, got 4096"):
        Qwen3VLEmbeddings(model_name=str(tiny_vl_path), dimensions=4096)
    with pytest.raises(ValueError, match="got 65"):
        Qwen3VLEmbeddings(embedder=vl_embedder, dimensions=65)
    assert Qwen3VLEmbeddings(embedder=vl_embedder, dimensions=64).dimension == 64
    lazy = Qwen3VLEmbeddings(model_name=str(tiny_vl_path), dimensions=4096, lazy=True)
    with pytest.raises(ValueError, match="got 4096"):
        lazy.embed_documents(["a", "b"])
    nowhere = "http://127.0.0.1:9/v1"  # nothing listens: a request would be a connection error
    with pytest.raises(ValueError, match="between 1 and 4096, got 5000"):
        Qwen3VLEmbeddings(embedder=RemoteEmbedder("qwen/qwen3-embedding-8b", nowhere, api_key_env=None),
                          dimensions=5000)
    unknown = RemoteEmbedder("some-model", nowhere, protocol="openai", api_key_env=None)
    assert Qwen3VLEmbeddings(embedder=unknown, dimensions=5000).dimensions == 5000  # size unknown until it answers
