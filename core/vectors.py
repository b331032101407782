"""Matryoshka (MRL) dimension reduction on numpy vectors: shared by local, remote and fallback backends."""

from __future__ import annotations

from typing import cast

import numpy as np


def check_dimensions(dimensions: int | None, hidden_size: int) -> None:
    """Refuse a Matryoshka size the model cannot give, before any model work (None means full size)."""
    if dimensions is None:
        return
    if isinstance(dimensions, bool) or not isinstance(dimensions, (int, np.integer)):
        raise ValueError(f"dimensions must be an integer between 1 and {hidden_size}, got {dimensions!r}")
    if not 1 <= dimensions <= hidden_size:
        raise ValueError(f"dimensions must be between 1 and {hidden_size}, got {dimensions}")


def truncate_and_normalize(vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Keep the first ``dimensions`` values of each un-normalised vector, then L2-normalise (float32)."""
    if dimensions is not None:
        check_dimensions(dimensions, vectors.shape[1])
        vectors = vectors[:, :dimensions]
    vectors = vectors.astype(np.float32, copy=False)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return cast(np.ndarray, vectors / np.maximum(norms, np.finfo(np.float32).tiny))
