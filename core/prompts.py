"""The official Qwen3-VL-Embedding prompt, rendered without a template engine, and its vision expansion.

``render_embedding_prompt`` gives the string the official code gets from the Qwen3-VL chat template
(one ``<|image_pad|>`` per image, one ``<|video_pad|>`` per video). ``expand_vision`` then writes the
sequence the model was trained on: N image pads per image, and for video the transformers 4.57 layout,
``<t seconds><|vision_start|>`` + pads + ``<|vision_end|>`` per 2-frame group (transformers 5.x nests
these inside an extra vision_start/vision_end pair; we do not).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from .constants import EMPTY_ITEM_TEXT, IMAGE_PAD, VIDEO_PAD, VISION_END, VISION_START

IMAGE_PLACEHOLDER = VISION_START + IMAGE_PAD + VISION_END
VIDEO_PLACEHOLDER = VISION_START + VIDEO_PAD + VISION_END
PROMPT_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"  # closes every prompt; truncation keeps it


def normalize_instruction(instruction: str | None, default: str) -> str:
    """A user instruction is stripped and gets a final '.' unless it ends in punctuation; the default is verbatim."""
    if instruction:
        instruction = instruction.strip()
        if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
            instruction += "."
    return instruction or default


def chat_prompt(system: str, user: str) -> str:
    """A system turn, a user turn and the generation prompt, as the Qwen chat templates render them."""
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}{PROMPT_SUFFIX}"


def user_content(n_videos: int, n_images: int, texts: Sequence[str]) -> str:
    """Videos, then images, then texts, whatever order the user wrote them in."""
    return VIDEO_PLACEHOLDER * n_videos + IMAGE_PLACEHOLDER * n_images + "".join(texts)


def render_embedding_prompt(instruction: str, n_videos: int, n_images: int, texts: Sequence[str]) -> str:
    """The official embedding prompt; an item with no content renders the text ``NULL``."""
    content = user_content(n_videos, n_images, texts) if (n_videos or n_images or texts) else EMPTY_ITEM_TEXT
    return chat_prompt(instruction, content)


def video_timestamps(frame_indices: Sequence[int], fps: float, temporal_patch: int = 2) -> list[float]:
    """Mean timestamp of each group of ``temporal_patch`` frames (the last frame repeats to fill a group)."""
    indices = list(frame_indices)
    while len(indices) % temporal_patch:
        indices.append(indices[-1])
    seconds = [i / fps for i in indices]
    return [(seconds[i] + seconds[i + temporal_patch - 1]) / 2 for i in range(0, len(seconds), temporal_patch)]


def expand_video(timestamps: Sequence[float], tokens_per_frame: int) -> str:
    return "".join(
        f"<{t:.1f} seconds>{VISION_START}{VIDEO_PAD * tokens_per_frame}{VISION_END}" for t in timestamps
    )


def expand_vision(prompt: str, image_tokens: Sequence[int], video_layouts: Sequence[tuple[list[float], int]]) -> str:
    """Replace each image placeholder's pad by its N pads and each video placeholder by its frame groups.

    ``video_layouts`` holds (timestamps, tokens per frame group) per video, in prompt order.
    """
    parts = prompt.split(VIDEO_PLACEHOLDER)
    if len(parts) - 1 != len(video_layouts):
        raise ValueError(f"prompt has {len(parts) - 1} video placeholders for {len(video_layouts)} videos")
    videos = [expand_video(ts, n) for ts, n in video_layouts]
    text = parts[0] + "".join(v + p for v, p in zip(videos, parts[1:]))
    pieces = text.split(IMAGE_PLACEHOLDER)
    if len(pieces) - 1 != len(image_tokens):
        raise ValueError(f"prompt has {len(pieces) - 1} image placeholders for {len(image_tokens)} images")
    expanded = [VISION_START + IMAGE_PAD * n + VISION_END for n in image_tokens]
    return pieces[0] + "".join(e + p for e, p in zip(expanded, pieces[1:]))
