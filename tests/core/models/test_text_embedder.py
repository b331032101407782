"""Qwen3TextEmbedder: the official Qwen3-Embedding recipe on a tiny Qwen3 model."""

import numpy as np
import pytest
import torch

from qwen3_vl_rag.core import InputError, Qwen3TextEmbedder
from qwen3_vl_rag.core.formats import text_query_prompt as query_prompt

TASK = "Given a web search query, retrieve relevant passages that answer the query"
QUERIES = ["What is the capital of China?", "Explain gravity"]
DOCUMENTS = ["The capital of China is Beijing.",
             "Gravity is a force that attracts two bodies towards each other. It gives weight to physical "
             "objects and is responsible for the movement of planets around the sun."]


def _official(path, texts):
    """The Qwen3-Embedding README recipe: left padding, last token, L2 normalisation."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModel.from_pretrained(path).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=8192, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state[:, -1]
    return torch.nn.functional.normalize(hidden, dim=-1).numpy()


def test_query_format_is_official():
    assert query_prompt(TASK, "Explain gravity") == f"Instruct: {TASK}\nQuery:Explain gravity"


def test_matches_the_official_recipe(text_embedder, tiny_text_path):
    ours = np.vstack([text_embedder.embed_queries(QUERIES), text_embedder.embed_documents(DOCUMENTS)])
    official = _official(tiny_text_path, [query_prompt(TASK, q) for q in QUERIES] + DOCUMENTS)
    assert np.allclose((ours * official).sum(1), 1.0, atol=1e-5)


def test_endoftext_is_appended_when_the_tokenizer_does_not(text_embedder, tiny_text_no_eos_path):
    plain = Qwen3TextEmbedder(str(tiny_text_no_eos_path))
    eos = plain.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert plain.encode(["hello"])[0].ids[-1] == eos
    assert plain.encode(["hello"])[0].ids == text_embedder.encode(["hello"])[0].ids
    assert np.allclose(plain.embed(DOCUMENTS), text_embedder.embed(DOCUMENTS), atol=1e-6)


def test_truncation_keeps_the_pooled_endoftext(tiny_text_path, tiny_text_no_eos_path):
    for path in (tiny_text_path, tiny_text_no_eos_path):
        embedder = Qwen3TextEmbedder(str(path), max_length=16)
        ids = embedder.encode(["word " * 100])[0].ids
        assert len(ids) == 16 and ids[-1] == embedder.eos_id


def test_mrl_batch_invariance_and_order(text_embedder):
    texts = ["a", "bb " * 30, "c", "中文 文本", "dd " * 7] * 3
    together = text_embedder.embed(texts)
    alone = np.vstack([text_embedder.embed([t]) for t in texts])
    assert (together * alone).sum(1).min() >= 0.99999
    small = text_embedder.embed(texts, dimensions=32)
    expected = together[:, :32] / np.linalg.norm(together[:, :32], axis=1, keepdims=True)
    assert np.allclose(small, expected, atol=1e-6)


def test_bad_input_is_named(text_embedder):
    with pytest.raises(InputError) as info:
        text_embedder.embed(["fine", None])
    assert info.value.index == 1
    with pytest.raises(TypeError):
        text_embedder.embed("not a list")


def test_count_tokens_excludes_special_tokens(text_embedder):
    counts = text_embedder.count_tokens(["hello world", ""])
    assert counts[1] == 0 and counts[0] == len(text_embedder.tokenizer.tokenize("hello world"))


def test_threads_mixing_token_counts_and_embedding_get_the_sequential_results(tiny_text_path):
    """Regression: tokenizing with ``truncation=True, max_length`` stored the setting on the shared Rust
    tokenizer, and a concurrent ``count_tokens`` flipped it back: wrong sequences, wrong counts."""
    from concurrent.futures import ThreadPoolExecutor

    from qwen3_vl_rag.core.chunking import token_counter_from_tokenizer

    embedder = Qwen3TextEmbedder(str(tiny_text_path), max_length=16)
    counter = token_counter_from_tokenizer(embedder.tokenizer)
    texts = [f"text {i} " + "the capital of China is Beijing. " * (3 + i % 7) for i in range(24)]
    expected_vectors = {i: embedder.embed([t])[0] for i, t in enumerate(texts)}
    expected_counts = {i: n for i, n in enumerate(embedder.count_tokens(texts))}
    assert max(expected_counts.values()) > 16  # the cut matters

    def work(i: int):
        if i % 2:
            return "count", i % 24, embedder.count_tokens([texts[i % 24]])[0], counter([texts[i % 24]])[0]
        return "embed", i % 24, embedder.embed([texts[i % 24]])[0], None

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(400)))
    for kind, i, value, other in results:
        if kind == "count":
            assert value == other == expected_counts[i]
        else:
            np.testing.assert_allclose(value, expected_vectors[i], atol=1e-6)


def test_long_texts_keep_the_first_tokens_and_end_in_endoftext(tiny_text_path):
    embedder = Qwen3TextEmbedder(str(tiny_text_path), max_length=8)
    (encoded,) = embedder.encode(["the capital of China is Beijing and much more text follows here"])
    full = embedder.tokenizer("the capital of China is Beijing and much more text follows here",
                              add_special_tokens=False)["input_ids"]
    assert encoded.ids == full[:7] + [embedder.eos_id]
