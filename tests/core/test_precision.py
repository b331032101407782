"""Vector precisions (core.precision): sentence-transformers' values, dtypes and shapes, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from qwen3_vl_rag.core.precision import (
    PRECISIONS,
    VectorPrecision,
    bytes_per_vector,
    calibration_ranges,
    quantize,
    ranges_fingerprint,
    row_width,
)
from qwen3_vl_rag.core.vectors import truncate_and_normalize


def quantize_embeddings(*args, **kwargs):
    """sentence-transformers' function, the reference: imported on first use (8 s that collection need not pay)."""
    from sentence_transformers import quantize_embeddings as reference

    return reference(*args, **kwargs)


def unit_vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    return truncate_and_normalize(np.random.default_rng(seed).normal(size=(n, d)), None)


ST_PRECISIONS = [p for p in PRECISIONS if p != "float16"]  # sentence-transformers has no float16


@pytest.mark.parametrize("precision", ST_PRECISIONS)
@pytest.mark.parametrize("dimension", [1, 7, 8, 13, 64, 100])
@pytest.mark.parametrize("calibrate", ["ranges", "calibration"])
def test_matches_sentence_transformers(precision, dimension, calibrate):
    vectors, calibration = unit_vectors(33, dimension, 1), unit_vectors(200, dimension, 2)
    kwargs = {}
    if precision in ("int8", "uint8"):
        kwargs = ({"ranges": calibration_ranges(calibration)} if calibrate == "ranges"
                  else {"calibration_embeddings": calibration})
    ours = quantize(vectors, precision, **kwargs)
    theirs = quantize_embeddings(vectors, precision, **kwargs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    assert ours.shape == (33, row_width(precision, dimension))


@pytest.mark.parametrize("precision", ["int8", "uint8"])
def test_int8_matches_with_hand_made_ranges_including_a_constant_dimension(precision):
    vectors = unit_vectors(50, 12, 3)
    ranges = np.vstack([np.full(12, -0.3), np.full(12, 0.3)]).astype(np.float32)
    ranges[:, 5] = 0.1  # start == end: sentence-transformers uses a step of 1 there
    np.testing.assert_array_equal(quantize(vectors, precision, ranges=ranges),
                                  quantize_embeddings(vectors, precision, ranges=ranges))


def test_binary_packs_sign_bits_and_pads_the_last_byte():
    vectors = np.array([[1, -1, 1, -1, 1, -1, 1, -1, 1, 1, 0, -1]], dtype=np.float32)
    ubinary = quantize(vectors, "ubinary")
    assert ubinary.dtype == np.uint8 and ubinary.tolist() == [[0b10101010, 0b11000000]]
    assert quantize(vectors, "binary").tolist() == [[0b10101010 - 128, 0b11000000 - 128]]


def test_float16_is_a_plain_cast():
    vectors = unit_vectors(5, 10)
    out = quantize(vectors, "float16")
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, vectors.astype(np.float16))
    assert quantize(vectors, "float32") is vectors


@pytest.mark.parametrize("precision", PRECISIONS)
def test_empty_input_keeps_the_width(precision):
    ranges = calibration_ranges(unit_vectors(5, 10)) if precision in ("int8", "uint8") else None
    out = quantize(np.zeros((0, 10), np.float32), precision, ranges=ranges)
    assert out.shape == (0, row_width(precision, 10))


def test_bytes_per_vector():
    assert bytes_per_vector("float32", 2048) == 8192 and bytes_per_vector("float16", 4096) == 8192
    assert bytes_per_vector("int8", 1000) == 1000 and bytes_per_vector("binary", 1001) == 126


# -- refusals ------------------------------------------------------------------------------------------
def test_unknown_precision_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'float32', 'float16', 'int8', 'uint8', 'binary', 'ubinary'.*'int4'"):
        quantize(unit_vectors(2, 4), "int4")


@pytest.mark.parametrize("precision", ["int8", "uint8"])
def test_int8_without_ranges_is_refused(precision):
    with pytest.raises(ValueError, match="needs per-dimension ranges.*never taken from the vectors"):
        quantize(unit_vectors(300, 4), precision)


def test_ranges_of_another_width_are_refused_naming_the_shapes():
    with pytest.raises(ValueError, match=r"shape \(2, 8\).*vectors have 4 dimensions"):
        quantize(unit_vectors(3, 4), "int8", ranges=calibration_ranges(unit_vectors(10, 8)))
    with pytest.raises(ValueError, match=r"shape \(2, 8\).*4 dimensions"):
        VectorPrecision.resolve("uint8", calibration_embeddings=unit_vectors(10, 8), width=4)


@pytest.mark.parametrize("bad, message", [
    (np.array([[np.nan, 0.0], [1.0, 1.0]]), "dimension 0 has a NaN"),
    (np.array([[0.0, 0.0], [1.0, np.inf]]), "dimension 1 has a NaN or infinite"),
    (np.array([[0.0, 0.5], [1.0, 0.2]]), "dimension 1 starts at 0.5, after its end 0.2"),
    (np.zeros((3, 2)), r"shape \(2, dimensions\).*got shape \(3, 2\)"),
    (np.zeros(4), r"got shape \(4,\)"),
])
def test_bad_ranges_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        quantize(unit_vectors(3, 2), "int8", ranges=bad)


def test_unused_or_conflicting_calibration_is_refused():
    ranges = calibration_ranges(unit_vectors(10, 4))
    with pytest.raises(ValueError, match="ranges apply to precision 'int8' / 'uint8' only, not 'binary'"):
        quantize(unit_vectors(3, 4), "binary", ranges=ranges)
    with pytest.raises(ValueError, match="not both"):
        quantize(unit_vectors(3, 4), "int8", ranges=ranges, calibration_embeddings=unit_vectors(10, 4))
    with pytest.raises(ValueError, match="1 vector"):
        calibration_ranges(unit_vectors(1, 4))


def test_codes_and_nan_vectors_are_refused():
    with pytest.raises(ValueError, match="float values"):
        quantize(np.zeros((2, 4), np.int8), "binary")
    vectors = unit_vectors(3, 4)
    vectors[2, 1] = np.nan
    with pytest.raises(ValueError, match="row 2 holds NaN"):
        quantize(vectors, "ubinary")


def test_fingerprint_tells_ranges_apart_and_round_trips():
    a, b = calibration_ranges(unit_vectors(10, 4, 1)), calibration_ranges(unit_vectors(10, 4, 2))
    assert ranges_fingerprint(a) != ranges_fingerprint(b) and ranges_fingerprint(a) == ranges_fingerprint(a.copy())
    resolved = VectorPrecision.resolve("int8", ranges=a)
    again = VectorPrecision.from_dict(resolved.to_dict())
    assert again == resolved and again.fingerprint == ranges_fingerprint(a)
    np.testing.assert_array_equal(again.apply(unit_vectors(4, 4)), resolved.apply(unit_vectors(4, 4)))


@pytest.mark.parametrize("precision", ST_PRECISIONS)
def test_float64_input_matches_too(precision):
    vectors = np.random.default_rng(5).normal(size=(20, 19))  # float64, not normalised
    kwargs = {"calibration_embeddings": np.random.default_rng(6).normal(size=(50, 19))} \
        if precision in ("int8", "uint8") else {}
    ours, theirs = quantize(vectors, precision, **kwargs), quantize_embeddings(vectors, precision, **kwargs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
