"""Padding-free batches (``EngineTuning.pack_sequences``): several sequences back to back per row, positions
restarting at 0 for each, no attention mask; transformers reads the packing from the positions.

With flash_attention_2 a batch is one row run as variable-length attention (no padding at all); with sdpa /
eager the mask is dense (a row of n tokens costs n^2 attention), so rows hold at most ``PACK_ROW_TOKENS``
tokens (or one longer sequence) and a batch is several rows. Media are packed too, each sequence keeping its
own multimodal RoPE positions. Results equal the padded path's (float noise).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from typing import Any

from ..batches import Encoded, add_media, to_device, token_budget_batches

# Packed rows under a dense (sdpa / eager) block mask: attention costs row width per token, so rows stay short.
PACK_ROW_TOKENS = 512


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
        add_media(inputs, flat, image_token_id, video_token_id)
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
    inputs = to_device(inputs, device, pin)
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
