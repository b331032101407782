"""Prepared model inputs (``Encoded``), their grouping into length-sorted token-budget batches, and their
collation into padded tensors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

MIN_FILL = 0.85  # a batch closes before a sequence shorter than this share of its longest row


def bucket_length(length: int) -> int:
    """The padded length for a batch whose longest row is ``length``: a multiple of 8 up to 64, then the
    next of 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, ... (four sizes per doubling, 8-aligned).

    A few dozen shapes cover any corpus, so kernels that plan or compile per shape stop re-planning;
    the padding added is below 25% of a batch (12% on average).
    """
    if length <= 64:
        return max(8, -(-length // 8) * 8)
    size = 64
    while True:
        step = size // 4
        for candidate in (size + step, size + 2 * step, size + 3 * step, 2 * size):
            if candidate >= length:
                return candidate
        size *= 2


def token_budget_batches(lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int,
                         min_fill: float = MIN_FILL, width: Callable[[int], int] | None = None,
                         patches: Sequence[int] | None = None, max_batch_patches: int | None = None,
                         fill_floor: int = 0) -> list[list[int]]:
    """Group indices into batches whose padded size (rows x padded length) stays within ``max_batch_tokens``.

    Longest sequences come first, so an out-of-memory error shows on the first batch, not the last. A
    sequence longer than the budget gets a batch of its own. A sequence shorter than ``min_fill`` x the
    batch's longest row starts a new batch, so every row is at least ``min_fill`` real tokens: in the
    long tail of a corpus, where lengths fall fast, the budget alone leaves batches 70% full. ``width``
    maps the longest row to the padded length (``bucket_length`` when shapes are bucketed). ``patches``
    (vision patches per sequence) are bounded by ``max_batch_patches`` per batch: pixels and the vision
    tower's activations grow with patches, not with language tokens. ``fill_floor``: the ``min_fill`` rule
    applies only once a batch holds that many padded tokens (on a GPU a small batch costs its launches,
    not its padding, so short tails are better merged). The caller restores input order.
    """
    if max_batch_tokens < 1 or max_batch_size < 1:
        raise ValueError("max_batch_tokens and max_batch_size must be >= 1")
    pad_to = width or (lambda n: n)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    current_patches = 0
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        item_patches = patches[index] if patches is not None else 0
        over_patches = max_batch_patches is not None and current_patches + item_patches > max_batch_patches
        if current and (len(current) + 1 > max_batch_size or (len(current) + 1) * pad_to(longest) > max_batch_tokens
                        or (lengths[index] < min_fill * longest and len(current) * pad_to(longest) >= fill_floor)
                        or over_patches):
            batches.append(current)
            current, current_patches = [], 0
        current.append(index)
        current_patches += item_patches
    if current:
        batches.append(current)
    return batches


@dataclass
class Encoded:
    """One sequence for the model: token ids and, for multimodal prompts, its pixel tensors.

    ``index`` is the caller's item (or pair) index, for errors. ``pending`` holds media whose pixels are
    loaded only when the sequence's batch is prepared (a callable returning the pixel fields), so a call
    holds at most a few batches of decoded media at once.
    """

    ids: list[int]
    pixel_values: Any = None
    image_grid_thw: Any = None
    pixel_values_videos: Any = None
    video_grid_thw: Any = None
    index: int = -1
    pending: Callable[[], dict[str, Any]] | None = None
    patches: int = 0  # vision patches (pixel rows) of this sequence

    def loaded(self) -> Encoded:
        """A copy with the pending media loaded (self when nothing is pending)."""
        if self.pending is None:
            return self
        return replace(self, pending=None, **self.pending())


def collate(
    batch: Sequence[Encoded], pad_id: int, device: Any, image_token_id: int | None = None,
    video_token_id: int | None = None, width: int | None = None, pin: bool = False,
) -> tuple[dict[str, Any], list[int]]:
    """Right-pad a batch to ``width`` (default: its longest row); concatenate pixel tensors in sequence order.

    Returns (model kwargs on ``device``, lengths). ``pin`` stages the tensors in pinned host memory and
    copies them without blocking (CUDA), so the copy overlaps the previous batch's compute.
    """
    import torch

    lengths = [len(e.ids) for e in batch]
    input_ids = torch.full((len(batch), max(width or 0, max(lengths))), pad_id, dtype=torch.long)
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
    if pin:
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in inputs.items()}, lengths
    return {k: v.to(device) for k, v in inputs.items()}, lengths
