"""Truncation that never breaks a prompt: special and vision tokens and the prompt suffix always stay.

The official embedder right-truncates at max_length, which can cut the assistant suffix (the pooled
token changes) or vision pads (the model then crashes). This is the official reranker's rule instead:
keep every special token and the final ``suffix_len`` tokens, and cut ordinary text tokens from the end.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..errors import PromptTooLong


def truncate_ids(
    ids: Sequence[int], max_length: int, special_ids: Collection[int], suffix_len: int
) -> list[int]:
    """Cut ordinary tokens (latest first) until ``ids`` fits ``max_length``; keep special ones and the suffix."""
    if len(ids) <= max_length:
        return list(ids)
    body, suffix = list(ids[: len(ids) - suffix_len]), list(ids[len(ids) - suffix_len :])
    n_special = sum(1 for t in body if t in special_ids)
    budget = max_length - suffix_len - n_special
    if budget < 0:
        raise PromptTooLong(
            f"{n_special + suffix_len} special and vision tokens exceed max_length={max_length}; "
            "lower max_pixels/total_pixels or raise max_length"
        )
    kept: list[int] = []
    for token in body:
        if token in special_ids:
            kept.append(token)
        elif budget > 0:
            kept.append(token)
            budget -= 1
    return kept + suffix
