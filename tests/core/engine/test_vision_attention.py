"""Grouped vision attention (``group_vision_attention``): one SDPA call per image size per vision layer, the
same vectors and scores as transformers' per-image loop."""


import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen3_vl_rag.core import EngineTuning, Qwen3TextEmbedder, Qwen3VLEmbedder, Qwen3VLReranker
from qwen3_vl_rag.core.engine.accelerations.vision_attention import MAX_SCORES_PER_CALL, plan_segments

from ...conftest import random_image

SIZES = [(64, 64), (96, 64), (64, 64), (128, 96), (96, 64), (64, 64)]  # three sizes, repeated and interleaved


class CountAttention(torch.overrides.TorchFunctionMode):
    """Counts ``scaled_dot_product_attention`` calls (vision and language towers alike)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.nn.functional.scaled_dot_product_attention:
            self.calls += 1
        return func(*args, **(kwargs or {}))


def attention_calls(model, items) -> tuple[np.ndarray, int]:
    with CountAttention() as counter:
        vectors = model.embed(items)
    return np.asarray(vectors), counter.calls


@pytest.fixture(scope="module")
def grouped(tiny_vl_path):
    return Qwen3VLEmbedder(str(tiny_vl_path), tuning=EngineTuning(group_vision_attention=True))


@pytest.fixture(scope="module")
def per_image(vl_embedder):
    assert vl_embedder.options.tuning.group_vision_attention is False  # the default: transformers' loop
    return vl_embedder


@given(st.lists(st.integers(1, 6), min_size=1, max_size=12), st.integers(1, 4))
@settings(max_examples=200, deadline=None)
def test_a_plan_covers_every_token_once_with_equal_lengths_per_call(sizes, heads):
    lengths = [16 * size for size in sizes]
    plan = plan_segments(lengths, heads, "cpu")
    order = plan.order.tolist() if plan.order is not None else list(range(sum(lengths)))
    assert sorted(order) == list(range(sum(lengths)))
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    position = 0
    for start, images, length in plan.calls:
        assert start == position and heads * length * length * images <= max(MAX_SCORES_PER_CALL, heads * length**2)
        for image in range(images):  # each image of a call is one whole segment of that length
            first = order[start + image * length]
            assert first in starts and lengths[starts.index(first)] == length
            assert order[start + image * length:start + (image + 1) * length] == list(range(first, first + length))
        position += images * length
    assert position == sum(lengths)
    assert len(plan.calls) == len(set(lengths))  # far below the cap: one call per size


def test_adjacent_sizes_need_no_gather_and_the_cap_splits_a_size():
    plan = plan_segments([64, 64, 256, 256, 256], 16, "cpu")
    assert plan.order is None and plan.calls == ((0, 2, 64), (128, 3, 256))
    huge = 4096  # 16 heads x 4096^2 scores = 2^28: one image per call
    assert [images for _, images, _ in plan_segments([huge] * 3, 16, "cpu").calls] == [1, 1, 1]


@pytest.mark.parametrize("attn", ["eager", None])
def test_an_explicit_request_it_cannot_serve_is_refused(attn, tiny_vl_path, tiny_text_path):
    if attn == "eager":
        with pytest.raises(ValueError, match="needs attn_implementation='sdpa'"):
            Qwen3VLEmbedder(str(tiny_vl_path), attn_implementation="eager",
                            tuning=EngineTuning(group_vision_attention=True))
    else:
        with pytest.raises(ValueError, match="has no vision attention layer"):
            Qwen3TextEmbedder(str(tiny_text_path), tuning=EngineTuning(group_vision_attention=True))
    with pytest.raises(ValueError, match="group_vision_attention must be True or False"):
        Qwen3VLEmbedder(str(tiny_vl_path), tuning=EngineTuning(group_vision_attention="yes"))


def test_one_call_per_image_size_and_the_same_vectors(grouped, per_image):
    images = [random_image(i, size) for i, size in enumerate(SIZES)]
    items = [{"image": image} for image in images] + [{"image": images[0], "text": "a photo"}]
    vectors, grouped_calls = attention_calls(grouped, items)
    looped, looped_calls = attention_calls(per_image, items)
    np.testing.assert_allclose(vectors, looped, atol=1e-5)
    depth = grouped.model.config.vision_config.depth
    # one batch of 7 images in 3 sizes: 7 calls per vision layer before, 3 now
    assert looped_calls - grouped_calls == depth * (7 - 3)


def test_interleaved_sizes_in_multi_image_items_are_gathered_and_put_back(grouped, per_image):
    images = [random_image(10 + i, size) for i, size in enumerate(SIZES)]
    items = [{"image": [images[0], images[3]], "text": "first"}, {"image": [images[2], images[5]], "text": "second"},
             {"image": [images[1], images[4]]}]  # sizes A C | A A | B B: A appears in two places
    vectors, grouped_calls = attention_calls(grouped, items)
    looped, looped_calls = attention_calls(per_image, items)
    np.testing.assert_allclose(vectors, looped, atol=1e-5)
    assert grouped_calls < looped_calls


def test_video_and_reranker_scores_are_unchanged(tiny_vl_path, vl_reranker):
    frames = [random_image(20 + i, (96, 64)) for i in range(8)]  # 4 temporal patches of one size: one call
    grouped_reranker = Qwen3VLReranker(str(tiny_vl_path), tuning=EngineTuning(group_vision_attention=True))
    documents = [{"video": frames}, {"image": random_image(3, (96, 64))}, {"text": "a river"},
                 {"image": random_image(4, (64, 64)), "video": frames[:4]}]
    assert grouped_reranker.options.tuning.group_vision_attention is True
    np.testing.assert_allclose(grouped_reranker.score("what flows?", documents),
                               vl_reranker.score("what flows?", documents), atol=1e-5)
