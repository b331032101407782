"""The chunker with a real Hugging Face tokenizer, built offline in code (byte-level BPE)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

from qwen3_vl_rag.core.chunking import SemanticChunker, token_counter_from_tokenizer  # noqa: E402

CORPUS = [
    "The rocket reached orbit. Astronauts looked at the planet below.",
    "Bake the bread in the oven with flour and butter for forty minutes.",
    "The stock market fell while bond yields rose; dividends were cut.",
    "火箭进入轨道。宇航员看着下面的行星！面包在烤箱里烤了四十分钟？",
    "股票市场下跌，债券收益率上升。Mixed English 和中文 text.",
]


@pytest.fixture(scope="module")
def hf_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 20, trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")


def test_counter_excludes_special_tokens_and_batches(hf_tokenizer) -> None:
    count = token_counter_from_tokenizer(hf_tokenizer)
    texts = ["The rocket reached orbit.", "火箭进入轨道。", ""]
    with_specials = [len(ids) for ids in hf_tokenizer(texts)["input_ids"]]
    assert count(texts) == [n - 2 for n in with_specials]
    assert count([]) == []
    assert count(["火"])[0] >= 1


def test_token_counter_rejects_non_tokenizers() -> None:
    with pytest.raises(TypeError, match="tokenizer"):
        token_counter_from_tokenizer("not a tokenizer")


def test_chunks_respect_the_real_tokenizer_bound(hf_tokenizer, doubles) -> None:
    count = token_counter_from_tokenizer(hf_tokenizer)
    text = "\n\n".join(CORPUS * 3) + "\n" + "没有标点的中文长句子需要按照词元切开" * 6
    chunker = SemanticChunker(doubles.HashEmbedder(), count, max_tokens=12, min_tokens=3)
    chunks = chunker.split(text)
    assert len(chunks) > 10
    real = count([c.text for c in chunks])
    for chunk, n in zip(chunks, real):
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.token_count == n <= 12
    assert "".join("".join(c.text for c in chunks).split()) == "".join(text.split())


def test_token_counter_for_prefers_the_tokenizer_then_count_tokens():
    from qwen3_vl_rag.core.chunking import token_counter_for

    class Counts:
        def count_tokens(self, texts):
            return [7 for _ in texts]

    assert token_counter_for(Counts())(["a", "b"]) == [7, 7]
    with pytest.raises(ValueError, match="count_tokens="):
        token_counter_for(object())
