from __future__ import annotations

import numpy as np
import pytest

from qwen3_vl_rag.core.chunking import BREAKPOINT_TYPES, DEFAULT_BREAKPOINT_AMOUNTS, find_breakpoints
from qwen3_vl_rag.core.chunking.breakpoints import breakpoint_threshold

# Two planted spikes (indices 4 and 10) over low noise.
SPIKY = np.array([0.10, 0.12, 0.08, 0.11, 0.90, 0.09, 0.10, 0.13, 0.07, 0.12, 0.85, 0.10, 0.11])


def test_all_five_types_are_known_with_defaults() -> None:
    assert set(BREAKPOINT_TYPES) == {
        "percentile",
        "standard_deviation",
        "interquartile",
        "gradient",
        "absolute",
    }
    assert DEFAULT_BREAKPOINT_AMOUNTS["percentile"] == 95


@pytest.mark.parametrize(
    ("kind", "amount"),
    [
        ("percentile", 85),
        ("standard_deviation", 1.0),
        ("interquartile", 1.5),
        ("gradient", 85),
        ("absolute", 0.5),
    ],
)
def test_every_type_finds_exactly_the_planted_spikes(kind: str, amount: float) -> None:
    assert find_breakpoints(SPIKY, kind, amount).tolist() == [4, 10]


def test_percentile_default_95_picks_only_the_largest() -> None:
    assert find_breakpoints(SPIKY).tolist() == [4]
    assert breakpoint_threshold(SPIKY) == pytest.approx(np.percentile(SPIKY, 95))


def test_standard_deviation_threshold_is_mean_plus_k_std() -> None:
    assert breakpoint_threshold(SPIKY, "standard_deviation", 2.0) == pytest.approx(
        SPIKY.mean() + 2 * SPIKY.std()
    )
    assert find_breakpoints(SPIKY, "standard_deviation").tolist() == []  # default 3 sigma: too strict here


def test_interquartile_uses_tukey_upper_fence() -> None:
    q1, q3 = np.percentile(SPIKY, [25, 75])
    assert breakpoint_threshold(SPIKY, "interquartile", 1.5) == pytest.approx(q3 + 1.5 * (q3 - q1))


def test_gradient_marks_the_spike_itself_not_the_window_before() -> None:
    distances = np.array([0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1])
    # np.gradient's central difference is 0 at the spike and peaks one step before it.
    assert int(np.argmax(np.gradient(distances))) == 2
    assert find_breakpoints(distances, "gradient").tolist() == [3]


@pytest.mark.parametrize("kind", BREAKPOINT_TYPES)
def test_short_inputs_do_not_crash(kind: str) -> None:
    assert find_breakpoints(np.array([]), kind).tolist() == []
    one = find_breakpoints(np.array([0.9]), kind).tolist()
    assert one == ([0] if kind == "absolute" else [])
    two = find_breakpoints(np.array([0.1, 0.8]), kind, 0.5 if kind == "absolute" else None).tolist()
    assert two in ([], [1])  # never the smaller one, never an error


def test_gradient_on_two_and_three_distances() -> None:
    assert find_breakpoints([0.1, 0.8], "gradient").tolist() == [1]
    assert find_breakpoints([0.8, 0.1], "gradient").tolist() == [0]
    assert find_breakpoints([0.1, 0.7, 0.2], "gradient").tolist() == [1]


@pytest.mark.parametrize("kind", ["percentile", "standard_deviation", "interquartile", "gradient"])
def test_flat_signal_has_no_breakpoints_despite_float_noise(kind: str) -> None:
    assert find_breakpoints(np.full(7, 0.1), kind).tolist() == []
    # Identical windows give distances of 0 up to rounding error: still no topic shift.
    noise = 1e-16 * np.array([1.0, 2.0, 0.0, 1.0, 3.0, 0.0, 2.0])
    assert find_breakpoints(noise, kind).tolist() == []


def test_absolute_is_strictly_greater() -> None:
    assert find_breakpoints([0.3, 0.31, 0.2], "absolute", 0.3).tolist() == [1]


def test_unknown_type_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="unknown breakpoint_type 'median'.*'percentile'.*'absolute'"):
        find_breakpoints([0.1, 0.2], "median")


@pytest.mark.parametrize(("kind", "amount"), [("percentile", 101), ("gradient", -1), ("interquartile", -0.5)])
def test_out_of_range_amounts_are_rejected(kind: str, amount: float) -> None:
    with pytest.raises(ValueError, match=kind):
        find_breakpoints([0.1, 0.2], kind, amount)


def test_bad_distances_are_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        find_breakpoints([0.1, float("nan")])
    with pytest.raises(ValueError, match="one-dimensional"):
        find_breakpoints(np.zeros((2, 2)))
