"""Prepared model inputs (``Encoded``), their grouping into length-sorted token-budget batches, and their
collation into padded tensors (packed rows: ``engine.accelerations.packing``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any


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


def token_budget_batches(lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int, *,
                         batch_cost: int = 0, width: Callable[[int], int] | None = None,
                         patches: Sequence[int] | None = None,
                         max_batch_patches: int | None = None) -> list[list[int]]:
    """Group indices into the batches that cost least: padded tokens (rows x padded length) plus
    ``batch_cost`` per batch, within ``max_batch_size`` rows, ``max_batch_tokens`` padded tokens and
    ``max_batch_patches`` vision patches (``patches`` per sequence) per batch.

    ``batch_cost`` is what one more forward pass costs, in padded tokens (its launches, its small-matrix
    inefficiency): a batch is split where the padding saved exceeds it. ``width`` maps the longest row to
    the padded length (``bucket_length`` when shapes are bucketed). The sequences are sorted by length and
    cut into contiguous runs, exactly optimally (dynamic programming over the cut points; with this cost, an
    optimal grouping is contiguous in length order). Longest sequences come first, so an out-of-memory error
    shows on the first batch, not the last. A sequence over a limit on its own gets a batch of its own. The
    caller restores input order.
    """
    if max_batch_tokens < 1 or max_batch_size < 1:
        raise ValueError("max_batch_tokens and max_batch_size must be >= 1")
    import numpy as np

    pad_to = width or (lambda n: n)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    padded = np.array([pad_to(lengths[i]) for i in order], dtype=np.int64)  # a batch's width: its first row's
    item_patches = [patches[i] if patches is not None else 0 for i in order]
    seen_patches = np.concatenate([[0], np.cumsum(item_patches, dtype=np.int64)])  # patches of the first i
    best = np.zeros(len(order) + 1)  # best[i]: least cost of the first i sequences
    cut = np.zeros(len(order) + 1, dtype=np.int64)  # where the last batch of that grouping starts
    for end in range(1, len(order) + 1):
        first = max(0, end - max_batch_size)
        rows = end - np.arange(first, end)
        tokens = rows * padded[first:end]
        fits = tokens <= max_batch_tokens
        if max_batch_patches is not None:
            fits &= seen_patches[end] - seen_patches[first:end] <= max_batch_patches
        fits[-1] = True  # one sequence always runs
        cost = np.where(fits, best[first:end] + tokens + batch_cost, np.inf)
        start = int(np.argmin(cost))
        best[end], cut[end] = cost[start], first + start
    batches: list[list[int]] = []
    end = len(order)
    while end > 0:
        batches.append(order[int(cut[end]):end])
        end = int(cut[end])
    return batches[::-1]


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
        add_media(inputs, batch, image_token_id, video_token_id)
    return to_device(inputs, device, pin), lengths


def add_media(inputs: dict[str, Any], sequences: Sequence[Encoded], image_token_id: int,
               video_token_id: int | None) -> None:
    """The token types (1 image, 2 video) and the sequences' pixel tensors, concatenated in sequence order."""
    import torch

    input_ids = inputs["input_ids"]
    types = torch.zeros_like(input_ids, dtype=torch.int32)
    types[input_ids == image_token_id] = 1
    types[input_ids == video_token_id] = 2
    inputs["mm_token_type_ids"] = types
    for key in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"):
        parts = [getattr(e, key) for e in sequences if getattr(e, key) is not None]
        if parts:
            inputs[key] = torch.cat(parts)


def to_device(inputs: dict[str, Any], device: Any, pin: bool) -> dict[str, Any]:
    """``inputs`` on ``device``; ``pin``: through pinned host memory, without blocking (CUDA)."""
    if pin:
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in inputs.items()}
    return {k: v.to(device) for k, v in inputs.items()}
