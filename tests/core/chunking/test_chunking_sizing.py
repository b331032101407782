"""Unit tests of size control: boundary choice, oversize split, undersize merge, exact bound, token split."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest

from qwen3_vl_rag.core.chunking.sizing import (
    BoundaryPicker,
    enforce_max_tokens,
    merge_small_pieces,
    split_oversize_piece,
)
from qwen3_vl_rag.core.chunking.token_split import split_long_span


def prefix_of(counts: list[int]) -> list[int]:
    prefix = [0]
    for c in counts:
        prefix.append(prefix[-1] + c)
    return prefix


def test_picker_chooses_the_strongest_boundary() -> None:
    distances = np.array([0.1, 0.2, 0.9, 0.3, 0.4])
    picker = BoundaryPicker(distances, prefix_of([5] * 6))
    assert picker.choose(0, 6, 0) == 3  # boundary 2 -> split before unit 3
    assert picker.choose(3, 6, 0) == 5  # within (3, 6) boundaries 3, 4: 0.4 wins
    assert picker.choose(0, 3, 0) == 2


def test_picker_avoids_undersize_sides_when_it_can() -> None:
    distances = np.array([0.95, 0.2, 0.5, 0.3])  # strongest boundary peels off one 5-token unit
    picker = BoundaryPicker(distances, prefix_of([5] * 5))
    assert picker.choose(0, 5, 0) == 1
    assert picker.choose(0, 5, 8) == 3  # both sides >= 8 tokens: boundaries 1..2 allowed, 0.5 wins
    assert picker.choose(0, 5, 100) == 1  # impossible constraint: fall back to the strongest of all


def test_picker_breaks_exact_ties_at_the_token_midpoint() -> None:
    picker = BoundaryPicker(np.zeros(9), prefix_of([1] * 10))
    assert picker.choose(0, 10, 0) == 5
    weighted = BoundaryPicker(np.zeros(3), prefix_of([30, 1, 1, 1]))
    assert weighted.choose(0, 4, 0) == 1


def test_split_oversize_piece_fits_estimates_and_cuts_strongest_first() -> None:
    counts = [4] * 8
    distances = np.array([0.1, 0.2, 0.1, 0.8, 0.1, 0.3, 0.1])
    prefix = prefix_of(counts)
    pieces = split_oversize_piece((0, 8), prefix, BoundaryPicker(distances, prefix), 0, 12)
    assert pieces == [(0, 2), (2, 4), (4, 6), (6, 8)]
    for a, b in pieces:
        assert prefix[b] - prefix[a] <= 12
    # Fits already: untouched.
    assert split_oversize_piece((0, 8), prefix, BoundaryPicker(distances, prefix), 0, 32) == [(0, 8)]


def test_split_oversize_piece_is_fast_on_a_monotone_worst_case() -> None:
    n = 20000
    distances = np.linspace(0.0, 1.0, n - 1)  # strongest boundary always at the right end
    prefix = prefix_of([1] * n)
    pieces = split_oversize_piece((0, n), prefix, BoundaryPicker(distances, prefix), 0, 10)
    assert pieces[0][0] == 0 and pieces[-1][1] == n
    assert all(p[1] == q[0] for p, q in pairwise(pieces))
    assert all(b - a <= 10 for a, b in pieces)


def test_merge_small_goes_to_the_more_similar_neighbour() -> None:
    counts = [10, 10, 1, 10, 10]
    prefix = prefix_of(counts)
    pieces = [(0, 2), (2, 3), (3, 5)]
    closer_right = np.array([0.0, 0.7, 0.2, 0.0])
    closer_left = np.array([0.0, 0.2, 0.7, 0.0])
    assert merge_small_pieces(pieces, prefix, closer_right, 5, 100) == [(0, 2), (2, 5)]
    assert merge_small_pieces(pieces, prefix, closer_left, 5, 100) == [(0, 3), (3, 5)]


def test_merge_small_respects_max_tokens() -> None:
    prefix = prefix_of([10, 10, 1, 10, 10])
    pieces = [(0, 2), (2, 3), (3, 5)]
    closer_right = np.array([0.0, 0.7, 0.2, 0.0])
    # The preferred (right) merge would make 21 > 20 tokens... both would: it stays alone.
    assert merge_small_pieces(pieces, prefix, closer_right, 5, 20) == pieces
    # Right side larger: the left merge (21) fits under 21, the right one (31) does not.
    prefix2 = prefix_of([10, 10, 1, 10, 10, 10])
    assert merge_small_pieces([(0, 2), (2, 3), (3, 6)], prefix2, np.array([0, 0.7, 0.2, 0, 0]), 5, 21) == [
        (0, 3),
        (3, 6),
    ]


def test_merge_small_coalesces_runs_of_tiny_pieces() -> None:
    prefix = prefix_of([1] * 6)
    pieces = [(i, i + 1) for i in range(6)]
    merged = merge_small_pieces(pieces, prefix, np.zeros(5), 3, 100)
    assert merged[0][0] == 0 and merged[-1][1] == 6
    assert all(p[1] == q[0] for p, q in pairwise(merged))
    assert all(prefix[b] - prefix[a] >= 3 for a, b in merged)


def test_enforce_max_tokens_recounts_and_resplits_non_additive_counts() -> None:
    # Units of 3 tokens each; joined text costs 3 extra tokens per joint ("+" markers).
    units = ["aaa", "bbb", "ccc", "ddd"]
    text = "+".join(units)
    starts = [0, 4, 8, 12]
    ends = [3, 7, 11, 15]

    def count(texts: list[str]) -> list[int]:
        return [len(t.replace("+", "")) + 3 * t.count("+") for t in texts]

    prefix = prefix_of([3, 3, 3, 3])
    picker = BoundaryPicker(np.array([0.1, 0.5, 0.1]), prefix)
    result = enforce_max_tokens(
        [(0, 4)], [3, 3, 3, 3], lambda a, b: text[starts[a] : ends[b - 1]], count, picker, 0, 10
    )
    assert result == [(0, 2, 9), (2, 4, 9)]  # the estimate (12) and real count (21) both overflowed


def chars(texts: list[str]) -> list[int]:
    return [len(t) for t in texts]


def test_split_long_span_cjk_without_spaces_is_exact_and_balanced() -> None:
    text = "这是一个没有任何空格的非常长的中文句子" * 5  # 95 characters, no punctuation
    pieces = split_long_span(text, 0, len(text), chars, 7)
    assert "".join(text[s:e] for s, e, _ in pieces) == text
    assert all(c == e - s <= 7 for s, e, c in pieces)
    assert len(pieces) == 14 == -(-95 // 7)  # as few pieces as greedy
    assert min(c for *_, c in pieces) >= 6  # but no stub: 95 = 11 x 7 + 3 x 6


def test_split_long_span_cuts_at_the_clause_near_the_middle_not_at_the_limit() -> None:
    # The case: greedy cut 256 + 53 fell between "a" and "damaged".
    text = (
        "The inspector walked along the old harbour wall for most of the afternoon, "
        "noting every crack in the stones and each rusted ring, while the tide came in and a "
        "damaged fishing boat drifted slowly towards the pier"
    )
    words = lambda texts: [len(t.split()) for t in texts]  # noqa: E731
    pieces = split_long_span(text, 0, len(text), words, 30)
    texts = [text[s:e] for s, e, _ in pieces]
    assert texts == [
        "The inspector walked along the old harbour wall for most of the afternoon, noting every crack in the "
        "stones and each rusted ring,",
        "while the tide came in and a damaged fishing boat drifted slowly towards the pier",
    ]


def test_split_long_span_prefers_semicolon_then_colon_then_comma() -> None:
    text = "aaaa bbbb, cccc dddd; eeee ffff: gggg hhhh"
    assert [text[s:e] for s, e, _ in split_long_span(text, 0, len(text), chars, 30)] == [
        "aaaa bbbb, cccc dddd;", "eeee ffff: gggg hhhh"]
    text = "aaaa bbbb, cccc dddd: eeee ffff gggg hhhh"
    assert [text[s:e] for s, e, _ in split_long_span(text, 0, len(text), chars, 30)] == [
        "aaaa bbbb, cccc dddd:", "eeee ffff gggg hhhh"]


def test_split_long_span_uses_cjk_clause_marks() -> None:
    text = "今天的天气非常好我们去公园散步，然后在湖边吃午饭再回家休息一下"
    pieces = [text[s:e] for s, e, _ in split_long_span(text, 0, len(text), chars, 20)]
    assert pieces == ["今天的天气非常好我们去公园散步，", "然后在湖边吃午饭再回家休息一下"]


def test_split_long_span_code_cuts_at_blank_lines_then_top_level_lines() -> None:
    code = "```python\ndef f(x):\n    return x\n\ndef g(y):\n    y += 1\n    return y\n```"
    pieces = [code[s:e] for s, e, _ in split_long_span(code, 0, len(code), chars, 50, structured=True)]
    assert pieces == ["```python\ndef f(x):\n    return x", "def g(y):\n    y += 1\n    return y\n```"]


def test_split_long_span_joints_come_first() -> None:
    text = "Steps: first one, second one\n- item a\n- item b\n- item c"
    joint = text.index("- item a")
    pieces = [text[s:e] for s, e, _ in
              split_long_span(text, 0, len(text), chars, 40, structured=True, joints=(joint,))]
    assert pieces == ["Steps: first one, second one", "- item a\n- item b\n- item c"]


def test_split_long_span_raises_when_one_character_is_too_big() -> None:
    with pytest.raises(ValueError, match="alone counts 3 tokens, more than max_tokens=2"):
        split_long_span("😀😀", 0, 2, lambda texts: [3 * len(t) for t in texts], 2)


def test_split_long_span_counting_cost_is_n_log_n() -> None:
    text = "字" * 50_000
    counted: list[int] = []

    def count(texts: list[str]) -> list[int]:
        counted.extend(len(t) for t in texts)
        return [len(t) for t in texts]

    pieces = split_long_span(text, 0, len(text), count, 100)
    assert len(pieces) == 500
    assert sum(counted) <= len(text) * (math.ceil(math.log2(500)) + 1)
