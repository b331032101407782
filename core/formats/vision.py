"""Vision placeholders in a prompt and their expansion into the token layout the models were trained on.

A rendered prompt holds one ``<|image_pad|>`` per image and one ``<|video_pad|>`` per video.
``expand_vision`` writes N image pads per image and, for video, the transformers 4.57 layout:
``<t seconds><|vision_start|>`` + pads + ``<|vision_end|>`` per 2-frame group (transformers 5.x nests
these inside an extra vision_start/vision_end pair; we do not).
"""

from __future__ import annotations

from collections.abc import Sequence

from .defaults import IMAGE_PAD, VIDEO_PAD, VISION_END, VISION_START

IMAGE_PLACEHOLDER = VISION_START + IMAGE_PAD + VISION_END
VIDEO_PLACEHOLDER = VISION_START + VIDEO_PAD + VISION_END
VISION_TOKENS = (IMAGE_PAD, VIDEO_PAD, VISION_START)  # kept by truncation, like special tokens


def media_content(n_videos: int, n_images: int, texts: Sequence[str]) -> str:
    """Videos, then images, then texts, whatever order the user wrote them in (the official order)."""
    return VIDEO_PLACEHOLDER * n_videos + IMAGE_PLACEHOLDER * n_images + "".join(texts)


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
