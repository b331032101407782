"""The candidate rule and the storage layout's byte counts."""

import pytest

from qwen3_vl_rag.core.retrieval import candidate_count, default_coarse_dimension
from qwen3_vl_rag.core.retrieval.layout import Layout


def test_candidate_rule():
    assert candidate_count(10) == 100  # the floor
    assert candidate_count(20) == 200  # 10x oversampling
    assert candidate_count(3, oversample=2, min_candidates=1) == 6
    assert candidate_count(7, oversample=1, min_candidates=1) == 7  # never fewer than k
    for bad in (dict(k=0), dict(k=2.5), dict(k=5, oversample=0.5), dict(k=5, min_candidates=0)):
        with pytest.raises(ValueError):
            candidate_count(**bad)


def test_default_coarse_dimension():
    assert default_coarse_dimension(2048) == 1024 and default_coarse_dimension(4096) == 1024
    assert default_coarse_dimension(64) == 32
    with pytest.raises(ValueError):
        default_coarse_dimension(1)


def test_default_layout_keeps_ram_under_half_of_float32():
    layout = Layout(1024, 2048)
    sizes = layout.bytes_per_item()
    assert sizes["ram"] == 1024 + 4 + 2 * 32 * 4  # int8 coarse + its correction + HNSW links
    assert sizes["disk"] == 1024 * 2 + 2048 * 2  # float16 originals of both vectors
    assert sizes["ram"] <= 2048 * 4 / 2
    in_ram = Layout(1024, 2048, full_on_disk=False).bytes_per_item()
    assert in_ram["ram"] == sizes["ram"] + 2048 * 2 and in_ram["disk"] == 1024 * 2


def test_layout_refuses_bad_options():
    with pytest.raises(ValueError, match="coarse_dimension"):
        Layout(2048, 2048, quantization=None)
    with pytest.raises(ValueError, match="coarse_dimension"):
        Layout(2049, 2048)
    with pytest.raises(ValueError, match="quantization"):
        Layout(8, 16, quantization="int4")
    with pytest.raises(ValueError, match="full_datatype"):
        Layout(8, 16, full_datatype="int8")
