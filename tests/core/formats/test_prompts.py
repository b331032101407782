"""Rendered prompts and token ids equal the official formats (reference.md §1), written out by hand."""

import pytest

from qwen3_vl_rag.core import Qwen3VLEmbedder
from qwen3_vl_rag.core.formats import expand_vision, normalize_instruction, video_timestamps

from ...conftest import random_image

SYS = "<|im_start|>system\nRepresent the user's input.<|im_end|>\n<|im_start|>user\n"
END = "<|im_end|>\n<|im_start|>assistant\n"
IMG = "<|vision_start|><|image_pad|><|vision_end|>"
VID = "<|vision_start|><|video_pad|><|vision_end|>"


@pytest.mark.parametrize(
    "item, user",
    [
        ("A dog on a beach", "A dog on a beach"),
        ({"image": "IMAGE"}, IMG),
        ({"text": "a cat", "image": "IMAGE"}, IMG + "a cat"),
        ({"image": ["IMAGE", "IMAGE"]}, IMG + IMG),
        ({"video": ["IMAGE", "IMAGE", "IMAGE"]}, VID),
        ({"text": "what happens", "video": ["IMAGE"] * 4}, VID + "what happens"),
        ({"text": ["first", "second"], "image": "IMAGE", "video": ["IMAGE"] * 2}, VID + IMG + "firstsecond"),
        ({}, "NULL"),
        ("", "NULL"),
    ],
)
def test_rendered_prompt(vl_embedder, item, user):
    assert vl_embedder.render_prompt(item) == SYS + user + END


def test_user_instruction_gets_a_period_and_default_stays_verbatim(vl_embedder):
    prompt = vl_embedder.render_prompt({"text": "q", "instruction": "  Find the matching photo  "})
    assert prompt.startswith("<|im_start|>system\nFind the matching photo.<|im_end|>")
    assert vl_embedder.render_prompt("q", instruction="Already punctuated?").startswith(
        "<|im_start|>system\nAlready punctuated?<|im_end|>")
    assert normalize_instruction(None, "Represent the user's input.") == "Represent the user's input."
    assert normalize_instruction("中文指令", "d") == "中文指令."
    assert normalize_instruction("中文指令。", "d") == "中文指令。"


def test_video_expansion_uses_the_transformers_457_layout():
    prompt = SYS + VID + "x" + END
    timestamps = video_timestamps([0, 1, 2, 3], fps=2.0)
    assert timestamps == [0.25, 1.25]
    expanded = expand_vision(prompt, [], [(timestamps, 3)])
    pads = "<|video_pad|>" * 3
    assert expanded == (SYS + f"<0.2 seconds><|vision_start|>{pads}<|vision_end|>"
                        f"<1.2 seconds><|vision_start|>{pads}<|vision_end|>x" + END)
    # no nested vision_start, unlike transformers 5.x's own expansion
    assert "<|vision_start|><0" not in expanded


def test_odd_frame_count_repeats_the_last_frame_in_timestamps():
    assert video_timestamps([0, 2, 4], fps=1.0) == [1.0, 4.0]


@pytest.fixture(scope="module")
def real_vocab_embedder(tiny_vl_real_vocab_path):
    return Qwen3VLEmbedder(str(tiny_vl_real_vocab_path))


# Ids of the released Qwen vocabulary.
IM_START, IM_END, NL, SYSTEM, USER, ASSISTANT = 151644, 151645, 198, 8948, 872, 77091
VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = 151652, 151653, 151655, 151656
SUFFIX = [IM_END, NL, IM_START, ASSISTANT, NL]


def test_text_token_ids_with_the_real_vocabulary(real_vocab_embedder):
    ids = real_vocab_embedder.encode(["hello"])[0].ids
    assert ids[:3] == [IM_START, SYSTEM, NL]
    assert ids[-5:] == SUFFIX
    user_turn = ids.index(IM_START, 1)
    assert ids[user_turn: user_turn + 3] == [IM_START, USER, NL]
    assert real_vocab_embedder.encoder.tokenizer.decode(ids[user_turn + 3: -5]) == "hello"


def test_image_token_ids_expand_to_the_grid(real_vocab_embedder):
    image = random_image(0, size=(64, 96))  # 64 wide, 96 high: a 2 x 3 grid of 32-pixel merged tokens
    encoded = real_vocab_embedder.encode([{"image": image, "text": "hi"}])[0]
    assert encoded.pixel_values is None and encoded.patches == 24  # pixels load with their batch
    encoded = encoded.loaded()
    ids = encoded.ids
    assert encoded.image_grid_thw.tolist() == [[1, 6, 4]]
    start = ids.index(VISION_START)
    assert ids[start: start + 8] == [VISION_START] + [IMAGE_PAD] * 6 + [VISION_END]
    assert ids.count(IMAGE_PAD) == 6 and ids[-5:] == SUFFIX


def test_frame_list_video_token_ids(real_vocab_embedder):
    frames = [random_image(i, size=(64, 64)) for i in range(4)]
    encoded = real_vocab_embedder.encode([{"video": frames, "text": "hi"}])[0]
    t, h, w = encoded.video_grid_thw.tolist()[0]
    per_group = h * w // 4
    ids = encoded.ids
    assert ids.count(VIDEO_PAD) == t * per_group
    assert ids.count(VISION_START) == t == ids.count(VISION_END)  # one pair per frame group, none nested
    tokenizer = real_vocab_embedder.encoder.tokenizer
    assert tokenizer.decode(ids[ids.index(USER) + 2: ids.index(VISION_START)]) == "<0.2 seconds>"
