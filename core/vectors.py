"""Matryoshka (MRL) dimension reduction: validate ``dimensions`` before any work, truncate, renormalise."""

from __future__ import annotations

import numpy as np


def check_dimensions(dimensions: int | None, hidden_size: int | None) -> int | None:
    """``dimensions`` if it is None or an integer in 1..``hidden_size``, else a ``ValueError``.

    Call it before any model work: ``dimensions=0`` would otherwise mean "full vectors" to an ``or`` and
    an out-of-range value would fail only after the forward pass. ``hidden_size`` None (a remote model
    whose width is not known yet) checks only the lower bound.
    """
    if dimensions is None:
        return None
    if not isinstance(dimensions, (int, np.integer)) or isinstance(dimensions, bool):
        raise ValueError(f"dimensions must be an integer, got {type(dimensions).__name__}")
    upper = f" and {hidden_size}" if hidden_size is not None else ""
    if dimensions < 1 or (hidden_size is not None and dimensions > hidden_size):
        raise ValueError(f"dimensions must be between 1{upper or ' and the vector size'}, got {dimensions}")
    return int(dimensions)


def truncate_and_normalize(vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Keep the first ``dimensions`` values of each un-normalised vector, then L2-normalise (float32)."""
    if dimensions is not None:
        check_dimensions(dimensions, vectors.shape[1])
        vectors = vectors[:, :dimensions]
    vectors = vectors.astype(np.float32, copy=False)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)
