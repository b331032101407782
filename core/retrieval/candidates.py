"""How many coarse candidates to rescore, and how small the coarse vectors are.

The rule (measured by ``benchmarks/bench_retrieval.py``, see docs/retrieval.md):
``candidates = max(k * oversample, min_candidates)``, at least ``k``. On MRL-like vectors with
an exact coarse stage, 10 candidates for k=10 give recall@10 0.73, 20 give 0.92, 50 give 0.99 and 100
give 1.00 against exact full-dimension search; int8 quantisation and HNSW lose a little more, so the
defaults keep 10x oversampling with a floor of 100. A binary coarse stage needs 500-1,000 candidates
on Matryoshka-like vectors: pass ``min_candidates`` with it. Rescoring 100 full vectors is ~0.4 MB of float16
reads per query: cheap next to the model call that embedded the query.
"""

from __future__ import annotations

import math

DEFAULT_OVERSAMPLE = 10.0
DEFAULT_MIN_CANDIDATES = 100
DEFAULT_MAX_COARSE_DIMENSION = 1024


def candidate_count(k: int, oversample: float = DEFAULT_OVERSAMPLE,
                    min_candidates: int = DEFAULT_MIN_CANDIDATES) -> int:
    """Coarse candidates to rescore for the top ``k``: ``max(ceil(k * oversample), min_candidates, k)``."""
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not oversample >= 1:
        raise ValueError(f"oversample must be >= 1, got {oversample!r}")
    if int(min_candidates) != min_candidates or min_candidates < 1:
        raise ValueError(f"min_candidates must be a positive integer, got {min_candidates!r}")
    return max(math.ceil(k * oversample), int(min_candidates), int(k))


def default_coarse_dimension(full_dimension: int) -> int:
    """The coarse prefix size: 1024 for the 2048-d (2B) and 4096-d (8B) models, half of smaller vectors."""
    if full_dimension < 2:
        raise ValueError(f"two-stage retrieval needs vectors of at least 2 dimensions, got {full_dimension}")
    return min(DEFAULT_MAX_COARSE_DIMENSION, full_dimension // 2)
