"""The shipped tiny-model builders: offline, fast, faithful to the released architectures."""

import json
import time

from transformers import AutoProcessor, AutoTokenizer

from qwen3_vl_rag.testing import QWEN_SPECIAL_TOKENS, build_tiny_text_model, build_tiny_vl_model


def test_vl_model_builds_quickly_with_qwen_special_tokens(tmp_path):
    build_tiny_vl_model(tmp_path / "warm")  # first call pays for imports
    start = time.perf_counter()
    path = build_tiny_vl_model(tmp_path / "vl")
    assert time.perf_counter() - start < 1.0
    processor = AutoProcessor.from_pretrained(path)
    tokenizer = processor.tokenizer
    ids = tokenizer.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS))
    assert len(set(ids)) == len(QWEN_SPECIAL_TOKENS) and tokenizer.unk_token_id not in ids
    assert len(tokenizer("yes", add_special_tokens=False)["input_ids"]) == 1
    assert len(tokenizer("no", add_special_tokens=False)["input_ids"]) == 1
    config = json.loads((path / "config.json").read_text())
    assert config["text_config"]["head_dim"] >= 32  # vLLM's CPU kernels need head_dim >= 32
    assert config["image_token_id"] == tokenizer.convert_tokens_to_ids("<|image_pad|>")


def test_vl_chat_template_renders_the_official_embedding_prompt(tiny_vl_path):
    processor = AutoProcessor.from_pretrained(tiny_vl_path)
    conversation = [
        {"role": "system", "content": [{"type": "text", "text": "Represent the user's input."}]},
        {"role": "user", "content": [{"type": "image", "image": "x.png"}, {"type": "text", "text": "a cat"}]},
    ]
    rendered = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert rendered == (
        "<|im_start|>system\nRepresent the user's input.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>a cat<|im_end|>\n<|im_start|>assistant\n"
    )


def test_real_vocab_variant_has_the_released_ids(tiny_vl_real_vocab_path):
    tokenizer = AutoProcessor.from_pretrained(tiny_vl_real_vocab_path).tokenizer
    assert len(tokenizer) == 151669
    assert tokenizer.convert_tokens_to_ids(["yes", "no", "<|image_pad|>", "<|endoftext|>"]) == [
        9693, 2152, 151655, 151643]


def test_text_model_tokenizer_appends_endoftext_only_when_asked(tmp_path):
    with_eos = AutoTokenizer.from_pretrained(build_tiny_text_model(tmp_path / "a"))
    without = AutoTokenizer.from_pretrained(build_tiny_text_model(tmp_path / "b", append_eos=False))
    eos = with_eos.convert_tokens_to_ids("<|endoftext|>")
    assert with_eos("hello")["input_ids"][-1] == eos
    assert without("hello")["input_ids"][-1] != eos
