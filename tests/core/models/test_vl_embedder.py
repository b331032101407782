"""Qwen3VLEmbedder on the tiny Qwen3-VL model: official parity, batching invariance, MRL, order."""

import random

import numpy as np
import pytest
import torch

from ...conftest import random_image


def _official_vectors(model_path, items):
    """The official Qwen3-VL-Embedding recipe for text and images, run through transformers directly:
    chat template, qwen-vl-utils, the processor with right padding and do_resize=False, Qwen3VLModel,
    the last non-padding position, L2 normalisation."""
    from qwen_vl_utils import process_vision_info
    from transformers import AutoProcessor, Qwen3VLModel

    processor = AutoProcessor.from_pretrained(model_path, padding_side="right")
    model = Qwen3VLModel.from_pretrained(model_path).eval()
    conversations = []
    for item in items:
        content = [{"type": "image", "image": f"file://{p}", "min_pixels": 4096, "max_pixels": 1843200}
                   for p in item.get("image", [])]
        content += [{"type": "text", "text": item["text"]}] if item.get("text") else []
        conversations.append([
            {"role": "system", "content": [{"type": "text", "text": "Represent the user's input."}]},
            {"role": "user", "content": content},
        ])
    text = processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=False)
    images, _ = process_vision_info(conversations, image_patch_size=16)
    inputs = processor(text=text, images=images, padding=True, do_resize=False, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**inputs).last_hidden_state
    last = inputs["attention_mask"].sum(1) - 1
    pooled = hidden[torch.arange(len(items)), last]
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_matches_the_official_recipe_for_text_and_images(vl_embedder, tiny_vl_path, tmp_path):
    paths = []
    for i, size in enumerate([(96, 64), (40, 300), (500, 420)]):
        paths.append(tmp_path / f"img{i}.png")
        random_image(i, size=size).save(paths[-1])
    items = [
        {"text": "A woman playing with her dog on a beach at sunset."},
        {"image": [str(paths[0])]},
        {"text": "what is in the picture", "image": [str(paths[1])]},
        {"image": [str(paths[2]), str(paths[0])], "text": "two pictures"},
    ]
    ours = vl_embedder.embed([{**it, "image": it.get("image")} for it in items])
    official = _official_vectors(tiny_vl_path, items)
    assert np.allclose((ours * official).sum(1), 1.0, atol=1e-5)


def test_unit_norm_float32_and_one_vector_per_item_in_order(vl_embedder):
    items = ["alpha", random_image(3), {"text": "beta", "image": random_image(4)}, {}, "alpha"]
    vectors = vl_embedder.embed(items)
    assert vectors.shape == (5, vl_embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.allclose(vectors[0], vectors[4], atol=1e-6)  # same item, same vector
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)


def test_alone_and_in_a_shuffled_mixed_batch_of_16_agree(vl_embedder):
    frames = [random_image(10 + i, size=(64, 48)) for i in range(3)]
    items = [
        "short", "a somewhat longer text about rivers, mountains and the sea " * 3, random_image(5),
        {"text": "caption", "image": random_image(6, size=(200, 40))}, {"video": frames},
        {"video": frames, "text": "clip"}, {}, "中文 句子", random_image(7, size=(33, 257)),
        {"image": [random_image(8), random_image(9)]}, "x", "y" * 200, {"text": ["a", "b"]},
        {"text": "instructed", "instruction": "Find it"}, random_image(11, size=(500, 60)), "last one",
    ]
    assert len(items) == 16
    alone = np.stack([vl_embedder.embed([item])[0] for item in items])
    order = list(range(16))
    random.Random(0).shuffle(order)
    vl_embedder.max_batch_size = 5  # several mixed batches
    try:
        shuffled = vl_embedder.embed([items[i] for i in order])
    finally:
        vl_embedder.max_batch_size = 64
    together = np.empty_like(shuffled)
    together[order] = shuffled
    assert (alone * together).sum(1).min() >= 0.99999


def test_matryoshka_dimensions_are_truncate_then_normalise(vl_embedder):
    items = ["one", random_image(1), {"text": "two", "image": random_image(2)}]
    full_raw = vl_embedder.embed(items)  # normalised full vectors: same direction as the raw ones
    for k in (16, 32, 48):
        reduced = vl_embedder.embed(items, dimensions=k)
        expected = full_raw[:, :k] / np.linalg.norm(full_raw[:, :k], axis=1, keepdims=True)
        assert reduced.shape == (3, k)
        assert np.allclose(reduced, expected, atol=1e-6)
    with pytest.raises(ValueError, match="dimensions"):
        vl_embedder.embed(items, dimensions=10_000)


def test_query_and_document_instructions_differ(vl_embedder):
    query = vl_embedder.embed_queries(["a red car"])
    document = vl_embedder.embed_documents(["a red car"])
    explicit = vl_embedder.embed(["a red car"], instruction=vl_embedder.query_instruction)
    assert np.allclose(query, explicit, atol=1e-6)
    assert not np.allclose(query, document, atol=1e-4)


def test_empty_call_returns_an_empty_matrix(vl_embedder):
    assert vl_embedder.embed([]).shape == (0, vl_embedder.dimension)


def test_long_text_is_cut_but_vision_tokens_and_suffix_stay(tiny_vl_path):
    from qwen3_vl_rag.core import Qwen3VLEmbedder

    embedder = Qwen3VLEmbedder(str(tiny_vl_path), max_length=64)
    image = random_image(0, size=(64, 64))  # 4 image tokens
    encoded = embedder.encode([{"image": image, "text": "word " * 200}])[0]
    tokenizer = embedder.encoder.tokenizer
    assert len(encoded.ids) == 64
    assert encoded.ids.count(embedder.encoder.image_token_id) == 4
    suffix = embedder.encoder.suffix_len
    assert tokenizer.decode(encoded.ids[-suffix:]) == "<|im_end|>\n<|im_start|>assistant\n"
    assert "word" in tokenizer.decode(encoded.ids[-suffix - 8: -suffix])  # the text was cut, not the end
    assert np.isfinite(embedder.embed([{"image": image, "text": "word " * 200}])).all()


def test_progress_bar_option_runs(vl_embedder, capsys):
    vectors = vl_embedder.embed(["a", "b"], show_progress=True)
    assert vectors.shape[0] == 2
    assert "Embedding" in capsys.readouterr().err
