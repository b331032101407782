"""Token-budget batching and the truncation rule."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen3_vl_rag.core.engine import bucket_length, token_budget_batches
from qwen3_vl_rag.core.errors import PromptTooLong
from qwen3_vl_rag.core.formats import truncate_ids


def test_batches_respect_budget_and_cover_every_index_once():
    lengths = [5, 100, 7, 60, 3, 100, 40, 8]
    batches = token_budget_batches(lengths, max_batch_tokens=200, max_batch_size=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 200
    assert batches[0] == [1, 5]  # longest first


def test_an_over_budget_sequence_gets_its_own_batch():
    assert token_budget_batches([500, 2, 2], max_batch_tokens=100, max_batch_size=8) == [[0], [1, 2]]


def test_invalid_budget_is_rejected():
    with pytest.raises(ValueError):
        token_budget_batches([1], max_batch_tokens=0, max_batch_size=1)


def test_truncation_keeps_special_tokens_and_suffix_and_cuts_latest_text():
    special = {900, 901}
    ids = [900, 1, 2, 901, 901, 3, 4, 5, 6, 50, 51]  # suffix = last 2
    assert truncate_ids(ids, 8, special, suffix_len=2) == [900, 1, 2, 901, 901, 3, 50, 51]
    assert truncate_ids(ids, 20, special, suffix_len=2) == ids
    with pytest.raises(PromptTooLong):
        truncate_ids(ids, 4, special, suffix_len=2)


def test_a_batch_splits_where_the_padding_saved_exceeds_one_more_pass():
    lengths = [100, 95, 90, 50, 48, 47]
    # one batch: 600 padded tokens; two: 300 + 150 = 450, so a split pays when a pass costs under 150 tokens
    assert token_budget_batches(lengths, 10_000, 64, batch_cost=40) == [[0, 1, 2], [3, 4, 5]]
    assert token_budget_batches(lengths, 10_000, 64, batch_cost=1000) == [list(range(6))]
    assert token_budget_batches(lengths, 10_000, 64, batch_cost=0) == [[i] for i in range(6)]


def _cost(batches, lengths, cost, width=lambda n: n):
    return sum(cost + len(b) * width(max(lengths[i] for i in b)) for b in batches)


def _partitions(items):
    """Every way to split ``items`` into non-empty groups (small inputs only)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for smaller in _partitions(rest):
        for k in range(len(smaller)):
            yield smaller[:k] + [[first] + smaller[k]] + smaller[k + 1:]
        yield [[first]] + smaller


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=7), st.integers(0, 400), st.integers(1, 4),
       st.integers(50, 1500), st.booleans())
def test_the_plan_is_the_cheapest_grouping_within_the_limits(lengths, cost, rows, tokens, buckets):
    """Against brute force over every grouping (not only contiguous runs of the length order)."""
    width = bucket_length if buckets else (lambda n: n)
    plan = token_budget_batches(lengths, tokens, rows, batch_cost=cost, width=width)
    assert sorted(i for b in plan for i in b) == list(range(len(lengths)))

    def feasible(batch):
        return len(batch) == 1 or (len(batch) <= rows and len(batch) * width(max(lengths[i] for i in batch)) <= tokens)

    assert all(feasible(b) for b in plan)
    best = min(_cost(p, lengths, cost, width) for p in _partitions(list(range(len(lengths))))
               if all(feasible(b) for b in p))
    assert _cost(plan, lengths, cost, width) == best


def test_patch_limits_split_batches_of_media():
    lengths, patches = [50, 50, 50, 50], [400, 400, 400, 0]
    plan = token_budget_batches(lengths, 10_000, 64, batch_cost=1000, patches=patches, max_batch_patches=800)
    assert all(sum(patches[i] for i in b) <= 800 for b in plan) and len(plan) == 2
