"""How much one forward pass may hold: ``max_batch_tokens`` / ``max_batch_size`` from the device.

The rule (documented in docs/engine.md, overridable by passing either value):

- CPU: 16,384 padded tokens and 64 rows (measured best on the CPU benchmarks; larger batches only
  add padding and cache misses), and 16,384 vision patches (4 patches per visual token; ~100 MB of
  float32 pixels, which with the prefetched batch keeps a call's host memory near 0.5 GB).
- CUDA: 256 rows, and a token budget from the free device memory after loading the model:
  ``tokens = 0.25 * free_bytes / bytes_per_token``, with ``bytes_per_token = (4 * hidden +
  3 * intermediate) * dtype_bytes`` (the live activations of one decoder layer in inference: the
  residual stream and attention projections, and the MLP's gate/up/down), rounded down to a power of
  two and clamped to [16,384, 262,144]. The remaining 75% is headroom for the vision tower, the
  pooled rows and the allocator. Vision patches: 65,536 per pass.
"""

from __future__ import annotations

from typing import Any

CPU_BATCH_TOKENS = 16384
CPU_BATCH_SIZE = 64
CPU_BATCH_PATCHES = 16384  # ~100 MB of float32 pixels: about 4 images of 1280x720
CUDA_BATCH_PATCHES = 65536
CUDA_BATCH_SIZE = 256
CUDA_MIN_TOKENS, CUDA_MAX_TOKENS = 16384, 262144
MEMORY_SHARE = 0.25
# One more forward pass, in padded tokens (the batch planner splits a batch where the padding saved exceeds it).
# CUDA: the H100 profile of the 2B shape (uniform 64-token rows) ran at MFU 0.20 with 2,048 tokens
# per pass and 0.40 from 16,384: a pass costs about 2,048 tokens' compute on top of its own.
CUDA_BATCH_OVERHEAD_TOKENS = 2048
CPU_BATCH_OVERHEAD_TOKENS = 256  # measured: benchmarks/bench_embed.py --overheads


def bytes_per_token(config: Any, dtype_bytes: int) -> int:
    """Live activation bytes per token of one decoder layer (see the module docstring)."""
    text = getattr(config, "text_config", config)
    return (4 * int(text.hidden_size) + 3 * int(text.intermediate_size)) * dtype_bytes


def device_batch_limits(config: Any, device: str, dtype_bytes: int, free_bytes: int | None) -> tuple[int, int]:
    """(max_batch_tokens, max_batch_size) for a model with ``config`` on ``device``."""
    if not str(device).startswith("cuda") or free_bytes is None:
        return CPU_BATCH_TOKENS, CPU_BATCH_SIZE
    budget = int(MEMORY_SHARE * free_bytes / bytes_per_token(config, dtype_bytes))
    tokens = CUDA_MIN_TOKENS
    while tokens * 2 <= min(budget, CUDA_MAX_TOKENS):
        tokens *= 2
    return tokens, CUDA_BATCH_SIZE


def free_device_bytes(device: Any) -> int | None:
    """Free memory of a CUDA device (None elsewhere)."""
    import torch

    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return int(free)
