"""core.vectors: ``dimensions`` checked before any work; MRL truncation then float32 renormalisation."""

import numpy as np
import pytest

from qwen3_vl_rag.core.vectors import check_dimensions, truncate_and_normalize


@pytest.mark.parametrize("bad", [0, -3, 9, 2.0, True, "4"])
def test_check_dimensions_refuses_what_would_be_silently_wrong(bad):
    with pytest.raises(ValueError, match="dimensions"):
        check_dimensions(bad, 8)


def test_check_dimensions_accepts_the_range_and_none():
    for ok in (None, 1, 8, np.int64(4)):
        check_dimensions(ok, 8)


def test_truncate_and_normalize():
    vectors = np.array([[3.0, 4.0, 12.0], [0.0, 0.0, 0.0]])
    out = truncate_and_normalize(vectors, 2)
    assert out.dtype == np.float32 and np.allclose(out[0], [0.6, 0.8]) and np.all(np.isfinite(out))
    with pytest.raises(ValueError):
        truncate_and_normalize(vectors, 4)
