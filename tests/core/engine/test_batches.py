"""Token-budget batching and the truncation rule."""

import pytest

from qwen3_vl_rag.core.engine import token_budget_batches
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


def test_a_much_shorter_sequence_starts_a_new_batch():
    lengths = [100, 95, 90, 50, 48, 47]
    batches = token_budget_batches(lengths, max_batch_tokens=10_000, max_batch_size=64)
    assert batches == [[0, 1, 2], [3, 4, 5]]  # 50 < 0.85 x 100: padding stays under 15%
    assert token_budget_batches(lengths, 10_000, 64, min_fill=0.0) == [list(range(6))]
