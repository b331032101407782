"""Two-stage Matryoshka retrieval: search a small coarse index, rescore the candidates at full size.

Qwen3-VL vectors are trained so that their first dimensions, renormalised, are a usable embedding on
their own (Matryoshka). ``TwoStageIndex`` (extra ``qdrant``) keeps, for every item, a coarse prefix
(default 1024 dims, int8- or binary-quantised, HNSW-indexed, in RAM) and the full vector (float16, no
index, on disk); one Qdrant query finds candidates on the coarse vectors and rescores them with the
full ones.
``candidate_count`` is the documented rule for how many candidates to rescore; ``pgvector`` builds the
same query as one SQL statement for PostgreSQL.
"""

from .candidates import DEFAULT_MIN_CANDIDATES, DEFAULT_OVERSAMPLE, candidate_count, default_coarse_dimension
from .layout import Layout
from .pgvector import PgvectorTwoStage
from .qdrant import COARSE, FULL, Hit, TwoStageIndex

__all__ = [
    "COARSE",
    "DEFAULT_MIN_CANDIDATES",
    "DEFAULT_OVERSAMPLE",
    "FULL",
    "Hit",
    "Layout",
    "PgvectorTwoStage",
    "TwoStageIndex",
    "candidate_count",
    "default_coarse_dimension",
]
