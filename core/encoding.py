"""Prepared model inputs, their collation into padded batches, and the batched forward loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .batching import token_budget_batches

DEFAULT_MAX_BATCH_TOKENS = 16384
DEFAULT_MAX_BATCH_SIZE = 64


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


def run_batched(
    encoded: Sequence[Encoded],
    forward: Callable[[Sequence[Encoded]], np.ndarray],
    max_batch_tokens: int,
    max_batch_size: int,
    show_progress: bool = False,
    desc: str = "Embedding",
    lock: Any = None,
) -> np.ndarray:
    """Run ``forward`` over length-sorted token-budget batches; return rows in input order.

    ``lock`` (a ``threading.Lock``) is held for the whole run: one caller's batches at a time.
    """
    import contextlib

    from tqdm.auto import tqdm

    batches = token_budget_batches([len(e.ids) for e in encoded], max_batch_tokens, max_batch_size)
    out: np.ndarray | None = None
    with lock or contextlib.nullcontext(), tqdm(total=len(encoded), desc=desc, disable=not show_progress,
                                                 unit="item") as bar:
        for batch in batches:
            rows = forward([encoded[i] for i in batch])
            if out is None:
                out = np.empty((len(encoded),) + rows.shape[1:], dtype=rows.dtype)
            out[batch] = rows
            bar.update(len(batch))
    return out
