"""Qwen3Reranker (text): both official prompt presets, the model-card truncation, batching invariance."""

import numpy as np
import pytest
import torch

from qwen3_vl_rag.core import InputError, Qwen3Reranker

PREFIX = ('<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the '
          'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n')
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
TASK = "Given a web search query, retrieve relevant passages that answer the query"


def test_model_card_preset_is_the_default(text_reranker):
    assert text_reranker.render_prompt("What is the capital of China?", "Beijing.") == (
        PREFIX + f"<Instruct>: {TASK}\n<Query>: What is the capital of China?\n<Document>: Beijing." + SUFFIX)


def test_vllm_preset_uses_blank_line_separators(tiny_text_path):
    reranker = Qwen3Reranker(str(tiny_text_path), preset="vllm")
    assert reranker.render_prompt("q", "d", instruction="Find it") == (
        PREFIX + "<Instruct>: Find it\n\n<Query>: q\n\n<Document>: d" + SUFFIX)
    with pytest.raises(ValueError, match="model-card"):
        Qwen3Reranker(str(tiny_text_path), preset="nope")


def test_scores_equal_the_model_card_computation(text_reranker, tiny_text_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_text_path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(tiny_text_path).eval()
    pairs = [("capital of China", "The capital of China is Beijing."), ("gravity", "Gravity attracts " * 9)]
    texts = [text_reranker.render_prompt(q, d) for q, d in pairs]
    batch = tokenizer(texts, padding=True, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits[:, -1]
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    official = torch.softmax(logits[:, [no, yes]], dim=-1)[:, 1].numpy()
    assert np.allclose(text_reranker.score_pairs(pairs), official, atol=1e-5)


def test_long_document_is_cut_before_the_suffix(tiny_text_path):
    reranker = Qwen3Reranker(str(tiny_text_path), max_length=120)
    ids = reranker.encode([("q", "word " * 500)])[0].ids
    assert len(ids) == 120
    text = reranker.tokenizer.decode(ids)
    assert text.startswith(PREFIX) and text.endswith(SUFFIX)
    kept = text[: -len(SUFFIX)].split("<Document>: ")[1]
    assert 0 < len(kept) < len("word " * 500) and set(kept) <= set("word ")  # the document was cut, the suffix kept


def test_batch_invariance_ranking_and_errors(text_reranker):
    documents = ["a", "b " * 40, "c", "中文", "d " * 5]
    together = text_reranker.score("q", documents)
    alone = np.array([text_reranker.score("q", [d])[0] for d in documents])
    assert np.abs(together - alone).max() <= 1e-5
    assert [i for i, _ in text_reranker.rerank("q", documents, top_n=3)] == list(np.argsort(-together)[:3])
    with pytest.raises(InputError) as info:
        text_reranker.score("q", ["ok", None])
    assert info.value.index == 1
