"""Prepared model inputs (``Encoded``), their grouping into length-sorted token-budget batches, and their
collation into padded tensors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MIN_FILL = 0.85  # a batch closes before a sequence shorter than this share of its longest row


def token_budget_batches(lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int,
                         min_fill: float = MIN_FILL) -> list[list[int]]:
    """Group indices into batches whose padded size (rows x longest row) stays within ``max_batch_tokens``.

    Longest sequences come first, so an out-of-memory error shows on the first batch, not the last. A
    sequence longer than the budget gets a batch of its own. A sequence shorter than ``min_fill`` x the
    batch's longest row starts a new batch, so every row is at least ``min_fill`` real tokens: in the
    long tail of a corpus, where lengths fall fast, the budget alone leaves batches 70% full. The caller
    restores input order.
    """
    if max_batch_tokens < 1 or max_batch_size < 1:
        raise ValueError("max_batch_tokens and max_batch_size must be >= 1")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        if current and (len(current) + 1 > max_batch_size or (len(current) + 1) * longest > max_batch_tokens
                        or lengths[index] < min_fill * longest):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


@dataclass
class Encoded:
    """One sequence ready for the model: token ids and, for multimodal prompts, its pixel tensors."""

    ids: list[int]
    pixel_values: Any = None
    image_grid_thw: Any = None
    pixel_values_videos: Any = None
    video_grid_thw: Any = None


def collate(
    batch: Sequence[Encoded], pad_id: int, device: Any, image_token_id: int | None = None,
    video_token_id: int | None = None,
) -> tuple[dict[str, Any], list[int]]:
    """Right-pad a batch; concatenate pixel tensors in sequence order. Returns (model kwargs, lengths)."""
    import torch

    lengths = [len(e.ids) for e in batch]
    input_ids = torch.full((len(batch), max(lengths)), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for row, encoded in enumerate(batch):
        input_ids[row, : lengths[row]] = torch.as_tensor(encoded.ids)
        attention_mask[row, : lengths[row]] = 1
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
    if image_token_id is not None:
        types = torch.zeros_like(input_ids, dtype=torch.int32)
        types[input_ids == image_token_id] = 1
        types[input_ids == video_token_id] = 2
        inputs["mm_token_type_ids"] = types
        for key in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"):
            parts = [getattr(e, key) for e in batch if getattr(e, key) is not None]
            if parts:
                inputs[key] = torch.cat(parts)
    return {k: v.to(device) for k, v in inputs.items()}, lengths
