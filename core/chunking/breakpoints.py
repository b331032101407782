"""Choose semantic breakpoints from cosine distances between neighbouring sentence windows.

``distances[i]`` is the cosine distance between the window around sentence ``i`` and the
window around sentence ``i + 1``; a breakpoint ``i`` means "start a new chunk after sentence
``i``".  A distance is a breakpoint when it is strictly greater than the method's threshold:

* ``percentile`` (default amount 95): the ``amount``-th percentile of the distances.
* ``standard_deviation`` (default 3): ``mean + amount * std``.
* ``interquartile`` (default 1.5): Tukey's upper fence ``Q3 + amount * IQR``.  (LangChain uses
  ``mean + amount * IQR``; the Tukey fence is the standard outlier rule and does not shift with
  the mean of a skewed distribution.)
* ``gradient`` (default 95): the ``amount``-th percentile of the *rise* of the distance,
  ``distances[i] - distances[i - 1]`` (for ``i = 0``: ``distances[0] - distances[1]``).
  LangChain uses ``np.gradient`` (a central difference), which is ~0 exactly at an isolated
  spike and so marks the window *before* the topic shift; it also crashes on fewer than two
  distances (langchain#26221).  Here one distance gives no breakpoint instead.
* ``absolute`` (default 0.3): the amount itself, a cosine distance in ``[0, 2]``.  The right
  value depends on the embedding model; tune it on your data.

The statistical methods cannot tell an outlier from a single sample, so with fewer than two
distances they return no breakpoint; ``absolute`` still applies.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np

__all__ = [
    "BREAKPOINT_TYPES",
    "DEFAULT_BREAKPOINT_AMOUNTS",
    "BreakpointType",
    "breakpoint_threshold",
    "find_breakpoints",
    "validate_breakpoint",
]

BreakpointType = Literal["percentile", "standard_deviation", "interquartile", "gradient", "absolute"]
BREAKPOINT_TYPES: tuple[str, ...] = get_args(BreakpointType)

DEFAULT_BREAKPOINT_AMOUNTS: dict[str, float] = {
    "percentile": 95.0,
    "standard_deviation": 3.0,
    "interquartile": 1.5,
    "gradient": 95.0,
    "absolute": 0.3,
}
_TOLERANCE = 1e-12


def validate_breakpoint(breakpoint_type: str, amount: float | None) -> float:
    """Check the method name and amount; return the amount to use (default filled in)."""
    if breakpoint_type not in DEFAULT_BREAKPOINT_AMOUNTS:
        allowed = ", ".join(repr(name) for name in BREAKPOINT_TYPES)
        raise ValueError(f"unknown breakpoint_type {breakpoint_type!r}; expected one of {allowed}")
    if amount is None:
        return DEFAULT_BREAKPOINT_AMOUNTS[breakpoint_type]
    if isinstance(amount, bool) or not isinstance(amount, (int, float, np.integer, np.floating)):
        raise TypeError(f"breakpoint_amount must be a number or None, got {type(amount).__name__}")
    value = float(amount)
    if not math.isfinite(value):
        raise ValueError(f"breakpoint_amount must be finite, got {value}")
    if breakpoint_type in ("percentile", "gradient") and not 0.0 <= value <= 100.0:
        raise ValueError(
            f"breakpoint_amount for {breakpoint_type!r} is a percentile in [0, 100], got {value}"
        )
    if breakpoint_type in ("standard_deviation", "interquartile") and value < 0.0:
        raise ValueError(f"breakpoint_amount for {breakpoint_type!r} must be >= 0, got {value}")
    return value


def _scores(distances: np.ndarray, breakpoint_type: str) -> np.ndarray:
    """The values compared with the threshold: the distances, or their rise for ``gradient``."""
    if breakpoint_type != "gradient":
        return distances
    rise = np.empty_like(distances)
    rise[1:] = np.diff(distances)
    rise[0] = distances[0] - distances[1]
    return rise


def breakpoint_threshold(
    distances: np.ndarray, breakpoint_type: str = "percentile", amount: float | None = None
) -> float | None:
    """Return the threshold a score must exceed, or ``None`` when there is too little data."""
    value = validate_breakpoint(breakpoint_type, amount)
    d = np.asarray(distances, dtype=np.float64)
    if breakpoint_type == "absolute":
        return value
    if d.size < 2:
        return None
    scores = _scores(d, breakpoint_type)
    if breakpoint_type in ("percentile", "gradient"):
        return float(np.percentile(scores, value))
    if breakpoint_type == "standard_deviation":
        return float(np.mean(scores) + value * np.std(scores))
    q1, q3 = np.percentile(scores, [25.0, 75.0])
    return float(q3 + value * (q3 - q1))


def find_breakpoints(
    distances: np.ndarray | list[float], breakpoint_type: str = "percentile", amount: float | None = None
) -> np.ndarray:
    """Return the sorted indices ``i`` (int64) where a new chunk starts after sentence ``i``."""
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"distances must be one-dimensional, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("distances must be finite")
    threshold = breakpoint_threshold(d, breakpoint_type, amount)
    if threshold is None or d.size == 0:
        return np.empty(0, dtype=np.int64)
    scores = _scores(d, breakpoint_type)
    # The tolerance keeps float noise (e.g. the mean of equal values landing one ulp low) from
    # turning a flat signal into breakpoints everywhere.
    return np.flatnonzero(scores > threshold + _TOLERANCE).astype(np.int64)
