"""Length-sorted batches under a token budget, so padding stays small and memory stays bounded."""

from __future__ import annotations

from collections.abc import Sequence

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
