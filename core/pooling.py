"""Last-token pooling and Matryoshka (MRL) dimension reduction."""

from __future__ import annotations

from .vectors import truncate_and_normalize

__all__ = ["last_token", "truncate_and_normalize"]


def last_token(hidden, lengths):
    """Hidden state at each row's last real position (right padding: position length - 1)."""
    import torch

    rows = torch.arange(hidden.shape[0], device=hidden.device)
    cols = torch.as_tensor(lengths, device=hidden.device) - 1
    return hidden[rows, cols]
