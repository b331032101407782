"""Prepared model inputs (``Encoded``), their grouping into length-sorted token-budget batches, and their
collation into padded tensors, or into packed rows (padding-free: several sequences per row)."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

# Packed rows under a dense (sdpa / eager) block mask: attention costs row width per token, so rows stay short.
PACK_ROW_TOKENS = 512


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
        _add_media(inputs, batch, image_token_id, video_token_id)
    return _to_device(inputs, device, pin), lengths


def _add_media(inputs: dict[str, Any], sequences: Sequence[Encoded], image_token_id: int,
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


def _to_device(inputs: dict[str, Any], device: Any, pin: bool) -> dict[str, Any]:
    """``inputs`` on ``device``; ``pin``: through pinned host memory, without blocking (CUDA)."""
    if pin:
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in inputs.items()}
    return {k: v.to(device) for k, v in inputs.items()}


def pack_rows(lengths: Sequence[int], capacity: int, patches: Sequence[int] | None = None,
              max_patches: int | None = None) -> list[list[int]]:
    """Indices packed into rows of at most ``capacity`` tokens (best fit, longest first; a longer sequence
    gets a row of its own) and at most ``max_patches`` vision patches (one sequence may exceed it alone)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    row_patches: list[int] = []
    free: list[tuple[int, int]] = []  # (free tokens, row) of the rows with room, ascending
    for index in order:
        size, item_patches = lengths[index], patches[index] if patches is not None else 0
        slot = bisect_left(free, (size, -1))  # the fullest row this sequence fits in
        if slot < len(free) and (max_patches is None or row_patches[free[slot][1]] + item_patches <= max_patches):
            room, row = free.pop(slot)
            rows[row].append(index)
            row_patches[row] += item_patches
        else:
            room, row = max(capacity, size), len(rows)
            rows.append([index])
            row_patches.append(item_patches)
        if room - size > 0:
            insort(free, (room - size, row))
    return rows


def packed_batches(lengths: Sequence[int], max_batch_tokens: int, max_batch_rows: int, row_tokens: int, *,
                   width: Callable[[int], int] | None = None, patches: Sequence[int] | None = None,
                   max_batch_patches: int | None = None, batch_cost: int = 0) -> list[list[list[int]]]:
    """Padding-free batches: each a list of rows, each row a list of indices whose sequences run back to back.

    Sequences are packed into rows of ``row_tokens`` (``pack_rows``), then rows are grouped like sequences
    by ``token_budget_batches`` (rows x padded row width within ``max_batch_tokens``, at most
    ``max_batch_rows`` rows, ``max_batch_patches`` patches). With ``row_tokens = max_batch_tokens`` and one
    row per batch (variable-length flash attention) a batch holds no padding at all.
    """
    rows = pack_rows(lengths, min(row_tokens, max_batch_tokens), patches, max_batch_patches)
    fills = [sum(lengths[i] for i in row) for row in rows]
    row_patches = [sum(patches[i] for i in row) for row in rows] if patches is not None else None
    groups = token_budget_batches(fills, max_batch_tokens, max_batch_rows, batch_cost=batch_cost, width=width,
                                  patches=row_patches, max_batch_patches=max_batch_patches)
    return [[rows[g] for g in group] for group in groups]


def collate_packed(
    rows: Sequence[Sequence[Encoded]], pad_id: int, device: Any, image_token_id: int | None = None,
    video_token_id: int | None = None, width: int | None = None, pin: bool = False,
    rope_index: Callable[..., Any] | None = None, varlen_boundaries: bool = False,
) -> tuple[dict[str, Any], list[int], list[int]]:
    """Sequences back to back in each row, no attention mask, ``position_ids`` restarting at 0 for each.

    transformers reads the packing from the positions (``masking_utils.find_packed_sequence_indices``:
    a block-diagonal causal mask for sdpa / eager; variable-length kernels for flash attention on one row).
    A row shorter than ``width`` is padded at its end, with positions continuing its last sequence's: a
    causal model never lets earlier tokens see them. With media, Qwen3-VL's multimodal RoPE positions are
    computed per sequence by ``rope_index`` (the model's ``get_rope_index``) and passed as four position
    rows (text positions first: they carry the packing).

    ``varlen_boundaries`` (one row, flash_attention_2, no media): the sequence boundaries are passed too, as
    flash's variable-length arguments (``cu_seq_lens_q`` / ``max_length_q``, the same for keys). Without
    them transformers derives the boundaries from the positions in every layer, reading values back from
    the device each time. Batches with media keep the positions alone: transformers hands the language
    model's keyword arguments to the vision tower too, whose own boundaries they would collide with.

    Returns (model kwargs on ``device``, end column of each sequence, its row), sequences in row order.
    """
    import torch

    fills = [sum(len(e.ids) for e in row) for row in rows]
    input_ids = torch.full((len(rows), max(width or 0, max(fills))), pad_id, dtype=torch.long)
    positions = torch.zeros_like(input_ids)
    ends: list[int] = []
    row_of: list[int] = []
    for r, row in enumerate(rows):
        start = 0
        for encoded in row:
            n = len(encoded.ids)
            input_ids[r, start:start + n] = torch.as_tensor(encoded.ids)
            positions[r, start:start + n] = torch.arange(n)
            start += n
            ends.append(start)
            row_of.append(r)
        positions[r, start:] = torch.arange(n, n + input_ids.shape[1] - start)
    inputs: dict[str, Any] = {"input_ids": input_ids, "position_ids": positions}
    flat = [e for row in rows for e in row]
    has_media = any(e.image_grid_thw is not None or e.video_grid_thw is not None for e in flat)
    if image_token_id is not None:
        _add_media(inputs, flat, image_token_id, video_token_id)
        if has_media:
            if rope_index is None:
                raise ValueError("packing sequences with media needs the model's rope_index")
            inputs["position_ids"] = _multimodal_positions(rows, inputs, rope_index)
    varlen: dict[str, Any] = {}
    if varlen_boundaries and len(rows) == 1 and not has_media:
        starts = [0, *ends[:-1], inputs["input_ids"].shape[1]]  # a tail of padding joins the last sequence
        inputs["cu_seq_lens_q"] = torch.tensor(starts, dtype=torch.int32)
        longest = max(b - a for a, b in zip(starts, starts[1:]))
        varlen = {"max_length_q": longest, "max_length_k": longest}
    inputs = _to_device(inputs, device, pin)
    if varlen:
        inputs["cu_seq_lens_k"] = inputs["cu_seq_lens_q"]
    return {**inputs, **varlen}, ends, row_of


def _multimodal_positions(rows: Sequence[Sequence[Encoded]], inputs: dict[str, Any],
                          rope_index: Callable[..., Any]) -> Any:
    """(4, rows, width) positions: the text positions, then each sequence's own 3-D RoPE positions."""
    import inspect

    import torch

    text = inputs["position_ids"]
    rope = text[None].repeat(3, 1, 1)  # text-only sequences (and the tail): all three equal the text positions
    # transformers >= 5.1 reads the media tokens from mm_token_type_ids; 5.0 from input_ids alone
    typed = "mm_token_type_ids" in inspect.signature(rope_index).parameters
    for r, row in enumerate(rows):
        start = 0
        for encoded in row:
            n = len(encoded.ids)
            if encoded.image_grid_thw is not None or encoded.video_grid_thw is not None:
                span = slice(start, start + n)
                types = {"mm_token_type_ids": inputs["mm_token_type_ids"][r:r + 1, span]} if typed else {}
                rope[:, r, span] = rope_index(inputs["input_ids"][r:r + 1, span], image_grid_thw=encoded.image_grid_thw,
                                              video_grid_thw=encoded.video_grid_thw, **types)[0][:, 0]
            start += n
    return torch.cat([text[None], rope])
