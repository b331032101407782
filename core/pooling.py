"""Last-token pooling and Matryoshka (MRL) dimension reduction."""

from __future__ import annotations

import numpy as np


def last_token(hidden, lengths):
    """Hidden state at each row's last real position (right padding: position length - 1)."""
    import torch

    rows = torch.arange(hidden.shape[0], device=hidden.device)
    cols = torch.as_tensor(lengths, device=hidden.device) - 1
    return hidden[rows, cols]


def truncate_and_normalize(vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Keep the first ``dimensions`` values of each un-normalised vector, then L2-normalise (float32)."""
    if dimensions is not None:
        if not 1 <= dimensions <= vectors.shape[1]:
            raise ValueError(f"dimensions must be between 1 and {vectors.shape[1]}, got {dimensions}")
        vectors = vectors[:, :dimensions]
    vectors = vectors.astype(np.float32, copy=False)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)
