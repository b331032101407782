"""Vector precisions: float32 unit vectors made smaller for storage and search, with sentence-transformers'
meanings (``sentence_transformers.quantize_embeddings``, version 6.3), applied after Matryoshka truncation
and normalisation.

==========  ======  =================  ==========================================================================
precision   dtype   values per vector  what it is
==========  ======  =================  ==========================================================================
float32     float32 d                  the unit vectors themselves (the default)
float16     float16 d                  a plain cast (ours: sentence-transformers has no float16)
uint8       uint8   d                  ``floor((x - start) / ((end - start) / 255))`` clipped to 0..255, per
                                       dimension, ``start`` / ``end`` from calibration ``ranges``
int8        int8    d                  the uint8 code minus 128
ubinary     uint8   ceil(d / 8)        the sign bits ``x > 0`` packed 8 to a byte (``np.packbits``, big-endian
                                       bit order; the last byte zero-padded)
binary      int8    ceil(d / 8)        the ubinary byte minus 128
==========  ======  =================  ==========================================================================

int8 / uint8 need per-dimension ranges: a ``(2, d)`` array of starts (row 0) and ends (row 1), given as
``ranges=`` or computed (per-dimension min and max) from ``calibration_embeddings=``, float vectors of the
same model at the same size. Unlike sentence-transformers, ranges are never taken from the vectors being
quantized: two calls would then use two different scales and their codes would not be comparable, so a
call without ranges or calibration is refused. ``calibration_ranges`` computes ranges once, to store and
reuse (the bulk job stores them with its output).

One place resolves and checks a call's precision (``VectorPrecision.resolve``, before any model work) and
one applies it (``VectorPrecision.apply``); every embedder and the bulk job go through them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

PrecisionName = Literal["float32", "float16", "int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[str, ...] = ("float32", "float16", "int8", "uint8", "binary", "ubinary")
FLOAT_PRECISIONS = frozenset({"float32", "float16"})
SCALAR_PRECISIONS = frozenset({"int8", "uint8"})  # need calibration ranges
BINARY_PRECISIONS = frozenset({"binary", "ubinary"})
DTYPES: dict[str, Any] = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "uint8": np.uint8,
                          "binary": np.int8, "ubinary": np.uint8}
_BUCKETS = 255  # uint8 codes 0..255: 255 steps between a dimension's start and end


def check_precision_name(precision: Any) -> str:
    """``precision`` if it is one of ``PRECISIONS``, else a ValueError listing them."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(repr(p) for p in PRECISIONS)}; got {precision!r}")
    return precision


def row_width(precision: str, dimension: int) -> int:
    """Values per stored row: ``dimension``, or ``ceil(dimension / 8)`` bytes for binary / ubinary."""
    return -(-int(dimension) // 8) if check_precision_name(precision) in BINARY_PRECISIONS else int(dimension)


def bytes_per_vector(precision: str, dimension: int) -> int:
    """Bytes of one vector of ``dimension`` values at ``precision`` (no per-vector overhead)."""
    return row_width(precision, dimension) * int(np.dtype(DTYPES[precision]).itemsize)


def _float_matrix(values: Any, what: str) -> np.ndarray:
    """``values`` as a finite 2-D float array, else a ValueError naming ``what`` and the first bad row."""
    array = np.asarray(values)
    if array.dtype.kind != "f":
        raise ValueError(f"{what} must be float values, got dtype {array.dtype} (quantize float vectors, "
                         "not codes)")
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (vectors x dimensions), got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        raise ValueError(f"{what}: row {int(bad[0])} holds NaN or infinite values")
    return array


def calibration_ranges(calibration_embeddings: Any) -> np.ndarray:
    """Per-dimension ranges ``(2, d)`` float32 (row 0 the minima, row 1 the maxima) of float vectors (at
    least two), the ranges sentence-transformers computes from ``calibration_embeddings``."""
    array = _float_matrix(calibration_embeddings, "calibration_embeddings")
    if array.shape[0] < 2:
        raise ValueError(f"calibration_embeddings holds {array.shape[0]} vector(s); int8 / uint8 ranges need a "
                         "representative set (hundreds of vectors or more)")
    return np.vstack((array.min(axis=0), array.max(axis=0))).astype(np.float32)


def check_ranges(ranges: Any) -> np.ndarray:
    """``ranges`` as a ``(2, d)`` float32 array of finite starts <= ends, else a ValueError saying why."""
    array = np.asarray(ranges)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"ranges must be numbers, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] != 2 or array.shape[1] < 1:
        raise ValueError(f"ranges must have shape (2, dimensions) (row 0 the starts, row 1 the ends), got shape "
                         f"{array.shape}")
    array = array.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(array).all(axis=0))
    if bad.size:
        raise ValueError(f"ranges: dimension {int(bad[0])} has a NaN or infinite start or end")
    reversed_ = np.flatnonzero(array[0] > array[1])
    if reversed_.size:
        d = int(reversed_[0])
        raise ValueError(f"ranges: dimension {d} starts at {array[0, d]:g}, after its end {array[1, d]:g}")
    return array


def ranges_fingerprint(ranges: np.ndarray) -> str:
    """A short digest of float32 ranges: two int8 / uint8 sets are comparable only when theirs are equal."""
    array = np.ascontiguousarray(ranges, dtype=np.float32)
    digest = hashlib.sha256(f"{array.shape}".encode() + array.astype("<f4").tobytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class VectorPrecision:
    """A call's precision, checked: ``name`` and, for int8 / uint8, the ``ranges`` it quantizes with."""

    name: str = "float32"
    ranges: np.ndarray | None = field(default=None, compare=False, repr=False)
    fingerprint: str | None = None  # of ``ranges`` (int8 / uint8), for the embedding identity

    @classmethod
    def resolve(cls, precision: Any = "float32", ranges: Any = None, calibration_embeddings: Any = None,
                width: int | None = None) -> VectorPrecision:
        """Check a call's precision arguments before any model work (``width``: the vectors' size, when
        known); an argument the precision does not use is refused, not dropped."""
        if isinstance(precision, VectorPrecision):
            if ranges is not None or calibration_embeddings is not None:
                raise ValueError("give ranges / calibration_embeddings with a precision name, not with a "
                                 "VectorPrecision (it holds its ranges)")
            resolved = precision
        else:
            name = check_precision_name(precision)
            if name not in SCALAR_PRECISIONS:
                given = [n for n, v in (("ranges", ranges), ("calibration_embeddings", calibration_embeddings))
                         if v is not None]
                if given:
                    raise ValueError(f"{' and '.join(given)} apply to precision 'int8' / 'uint8' only, not "
                                     f"{name!r}")
                resolved = cls(name)
            else:
                if ranges is not None and calibration_embeddings is not None:
                    raise ValueError("give ranges or calibration_embeddings, not both (ranges are computed from "
                                     "the calibration set)")
                if ranges is None and calibration_embeddings is None:
                    raise ValueError(
                        f"precision {name!r} needs per-dimension ranges: pass ranges= (a (2, dimensions) array, e.g. "
                        "from core.precision.calibration_ranges) or calibration_embeddings= (float vectors of this "
                        "model at this size). Ranges are never taken from the vectors being quantized: two calls "
                        "would use two scales and their codes would not be comparable")
                checked = check_ranges(ranges) if ranges is not None else calibration_ranges(calibration_embeddings)
                resolved = cls(name, checked, ranges_fingerprint(checked))
        if width is not None:
            resolved.check_width(width)
        return resolved

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = np.dtype(DTYPES[self.name])
        return dtype

    @property
    def is_float(self) -> bool:
        """float32 / float16: values comparable by cosine or dot product as they are."""
        return self.name in FLOAT_PRECISIONS

    def row_width(self, dimension: int) -> int:
        return row_width(self.name, dimension)

    def check_width(self, width: int) -> None:
        """Refuse ranges made for vectors of another size (e.g. another Matryoshka ``dimensions``)."""
        if self.ranges is not None and self.ranges.shape[1] != int(width):
            raise ValueError(f"the {self.name} ranges have shape {self.ranges.shape} ({self.ranges.shape[1]} "
                             f"dimensions) but the vectors have {int(width)} dimensions; calibrate at the same "
                             "dimensions= as the vectors")

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (N, d) float at this precision (see the module's table)."""
        if self.name == "float32" and isinstance(vectors, np.ndarray) and vectors.dtype == np.float32 \
                and vectors.ndim == 2:
            return vectors  # the embedders' own output: nothing to check or copy
        vectors = _float_matrix(vectors, "vectors")
        self.check_width(vectors.shape[1])
        if self.name in FLOAT_PRECISIONS:
            return vectors.astype(self.dtype)
        if self.name in BINARY_PRECISIONS:
            packed = np.packbits(vectors > 0, axis=-1)
            return packed if self.name == "ubinary" else (packed.astype(np.int16) - 128).astype(np.int8)
        assert self.ranges is not None  # resolve() gives int8 / uint8 their ranges
        starts = self.ranges[0]
        steps = (self.ranges[1] - starts) / np.float32(_BUCKETS)
        steps = np.where(steps == 0, np.float32(1), steps)  # a constant dimension: every value in bucket 0
        codes: np.ndarray = np.clip(np.floor((vectors - starts) / steps), 0, _BUCKETS)
        return codes.astype(np.uint8) if self.name == "uint8" else (codes - 128).astype(np.int8)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the ranges as lists of floats), for job records."""
        data: dict[str, Any] = {"precision": self.name}
        if self.ranges is not None:
            data.update(ranges=self.ranges.tolist(), ranges_fingerprint=self.fingerprint)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VectorPrecision:
        ranges = data.get("ranges")
        return cls.resolve(data.get("precision", "float32"), ranges=None if ranges is None else np.asarray(ranges))


# what ``precision=`` accepts: a name, or a VectorPrecision resolved with its ranges (e.g. a bulk job's)
Precision = PrecisionName | VectorPrecision


def load_ranges(path: str | os.PathLike[str]) -> np.ndarray:
    """Ranges from a file: a ``.npy`` array of shape (2, d), or a ``.json`` holding ``[[starts], [ends]]`` or an
    object with ``ranges`` (``VectorPrecision.to_dict()``, e.g. a bulk job's ``_job.json`` ``precision``)."""
    file = Path(path).expanduser()
    try:
        if file.suffix == ".json":
            data = json.loads(file.read_text(encoding="utf-8"))
            if isinstance(data, Mapping):
                inner = data.get("precision")
                data = (inner if isinstance(inner, Mapping) else data).get("ranges")
            if data is None:
                raise ValueError("it holds no ranges")
            return check_ranges(np.asarray(data, dtype=np.float64))
        return check_ranges(np.load(file, allow_pickle=False))
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"ranges file {str(path)!r}: {exc} (give a .npy array of shape (2, dimensions) or a "
                         ".json [[starts], [ends]])") from exc


def quantize(vectors: Any, precision: Any = "float32", *, ranges: Any = None,
             calibration_embeddings: Any = None) -> np.ndarray:
    """Float vectors (N, d) at ``precision``: the values, dtype and shape of sentence-transformers'
    ``quantize_embeddings`` for the same arguments (float16: a plain cast). int8 / uint8 need ``ranges``
    or ``calibration_embeddings`` (see the module docstring)."""
    return VectorPrecision.resolve(precision, ranges, calibration_embeddings).apply(vectors)


def is_float_precision(precision: str) -> bool:
    """Whether vectors of ``precision`` are floats (float32 / float16), comparable as they are."""
    return check_precision_name(precision) in FLOAT_PRECISIONS


__all__ = ["PRECISIONS", "Precision", "PrecisionName", "VectorPrecision", "bytes_per_vector", "calibration_ranges",
           "check_ranges", "is_float_precision", "load_ranges", "quantize", "ranges_fingerprint", "row_width"]

