"""Two-stage Matryoshka retrieval in PostgreSQL + pgvector (>= 0.7): the SQL, built for a table.

One table keeps the full vector as ``halfvec(D)`` (float16); an HNSW index on the EXPRESSION
``subvector(embedding, 1, d)::halfvec(d)`` is the coarse stage (cosine distance ignores the prefix's
norm, so the renormalisation is implicit). One statement takes the index's top candidates and reorders
them by the full vector. Traps this module avoids:

- HNSW refuses ``vector(n)`` above 2,000 dimensions and ``halfvec(n)`` above 4,000: index a prefix, never
  the full 2048/4096-d column.
- ``hnsw.ef_search`` (default 40) caps what an HNSW scan returns: with 100 candidates and the default,
  recall collapses. ``search_sql`` sets it (``SET LOCAL``, so run it inside a transaction) to at least
  the candidate count.
- The ORDER BY expression must be exactly the indexed one, or PostgreSQL scans the whole table.

The table's comment records the embedder's identity (``identity_comment_sql``); ``check_identity``
refuses another embedder's space, as ``TwoStageIndex`` does for Qdrant. Use with any driver that takes
``%(name)s`` parameters (psycopg 3, psycopg2); vectors are passed as text (``vector_literal``).

Usage (psycopg 3)::

    recipe = PgvectorTwoStage("items", full_dimension=2048)      # coarse 1024
    for statement in recipe.create_sql():
        conn.execute(statement)
    conn.execute(recipe.identity_comment_sql(embedder))
    conn.execute(recipe.insert_sql(), recipe.insert_params("id-1", vector, {"title": "..."}))
    (set_ef_search, _), (select, params) = recipe.search_sql(query_vector, k=10)
    with conn.transaction():
        conn.execute(set_ef_search)
        rows = conn.execute(select, params).fetchall()          # (id, score, payload), best first
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EmbeddingSpaceMismatch
from ..identity import EmbeddingIdentity, identity_of
from .candidates import DEFAULT_MIN_CANDIDATES, DEFAULT_OVERSAMPLE, candidate_count, default_coarse_dimension
from .rows import caller_id, float_vectors, json_payload

HALFVEC_INDEX_LIMIT = 4000  # pgvector's HNSW limit for halfvec (vector: 2000)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
COMMENT_KEY = "qwen3_vl_rag"


def vector_literal(vector: Any) -> str:
    """``[0.1,0.2,...]``, the text form pgvector parses, from a 1-D array of finite values."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    if not np.isfinite(values).all():
        raise ValueError("the vector has NaN or infinite values")
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


@dataclass(frozen=True)
class PgvectorTwoStage:
    """The SQL of a two-stage table: ``id text``, ``embedding halfvec(full_dimension)``, ``payload jsonb``."""

    table: str
    full_dimension: int
    coarse_dimension: int | None = None
    hnsw_m: int = 32
    hnsw_ef_construction: int = 256
    min_ef_search: int = 40
    oversample: float = DEFAULT_OVERSAMPLE
    min_candidates: int = DEFAULT_MIN_CANDIDATES

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.table):
            raise ValueError(f"table must be a plain SQL identifier (letters, digits, _), got {self.table!r}")
        if self.coarse_dimension is None:
            object.__setattr__(self, "coarse_dimension", default_coarse_dimension(self.full_dimension))
        assert self.coarse_dimension is not None  # for the type checker: set just above
        if not 1 <= self.coarse_dimension < self.full_dimension:
            raise ValueError(f"coarse_dimension must be between 1 and {self.full_dimension - 1}, got "
                             f"{self.coarse_dimension}")
        if self.coarse_dimension > HALFVEC_INDEX_LIMIT:
            raise ValueError(f"pgvector's HNSW indexes at most {HALFVEC_INDEX_LIMIT} halfvec dimensions; "
                             f"coarse_dimension={self.coarse_dimension} is too large")
        candidate_count(1, self.oversample, self.min_candidates)

    @property
    def _coarse_expression(self) -> str:
        return f"(subvector(embedding, 1, {self.coarse_dimension})::halfvec({self.coarse_dimension}))"

    def create_sql(self) -> list[str]:
        """The extension, the table and the coarse HNSW expression index."""
        return [
            "CREATE EXTENSION IF NOT EXISTS vector",
            f"CREATE TABLE IF NOT EXISTS {self.table} (id text PRIMARY KEY, "
            f"embedding halfvec({self.full_dimension}) NOT NULL, payload jsonb NOT NULL DEFAULT '{{}}')",
            f"CREATE INDEX IF NOT EXISTS {self.table}_coarse_hnsw ON {self.table} USING hnsw "
            f"({self._coarse_expression} halfvec_cosine_ops) "
            f"WITH (m = {int(self.hnsw_m)}, ef_construction = {int(self.hnsw_ef_construction)})",
        ]

    # -- identity ----------------------------------------------------------------------------------------
    def identity_comment_sql(self, embedder: Any) -> str:
        """``COMMENT ON TABLE`` recording the embedder's identity and the coarse size."""
        identity = self._checked_identity(embedder)
        text = json.dumps({COMMENT_KEY: {"full": identity.to_dict(), "coarse_dimension": self.coarse_dimension}})
        return f"COMMENT ON TABLE {self.table} IS '" + text.replace("'", "''") + "'"

    def comment_query_sql(self) -> str:
        """The table's comment (pass its value to :meth:`check_identity`)."""
        return f"SELECT obj_description('{self.table}'::regclass, 'pg_class')"

    def check_identity(self, comment: str | None, embedder: Any) -> EmbeddingIdentity:
        """Raise unless the table's comment names ``embedder``'s space and this coarse size."""
        try:
            stamp = json.loads(comment or "")[COMMENT_KEY]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"table {self.table!r} has no {COMMENT_KEY!r} identity comment; run "
                             "identity_comment_sql(embedder) when you create it") from None
        stored = EmbeddingIdentity.from_dict(stamp["full"])
        identity = self._checked_identity(embedder)
        differences = stored.differences(identity)
        if differences:
            raise EmbeddingSpaceMismatch(f"table {self.table!r} holds vectors from {stored}; this embedder writes "
                                         f"{identity} (different {' and '.join(differences)}). Use the table's "
                                         "embedder or another table.")
        if int(stamp["coarse_dimension"]) != self.coarse_dimension:
            raise ValueError(f"table {self.table!r} was indexed at coarse_dimension={stamp['coarse_dimension']}, "
                             f"not {self.coarse_dimension}")
        return stored

    def _checked_identity(self, embedder: Any) -> EmbeddingIdentity:
        identity = identity_of(embedder)
        if identity.dimension != self.full_dimension:
            raise EmbeddingSpaceMismatch(f"the embedder writes {identity.dimension}-d vectors, the table "
                                         f"{self.table!r} stores {self.full_dimension}-d ones")
        return identity

    # -- rows ----------------------------------------------------------------------------------------------
    def insert_sql(self) -> str:
        """An upsert of one row; parameters from :meth:`insert_params`."""
        return (f"INSERT INTO {self.table} (id, embedding, payload) VALUES "
                f"(%(id)s, %(embedding)s::halfvec({self.full_dimension}), %(payload)s::jsonb) "
                "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, payload = EXCLUDED.payload")

    def insert_params(self, item_id: Any, vector: Any, payload: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Parameters of :meth:`insert_sql` for one row; ``payload`` as in ``TwoStageIndex`` (numpy values
        become Python values; what JSON cannot hold is refused)."""
        values = self._checked_vector(vector, "vector")
        return {"id": str(caller_id(item_id)), "embedding": vector_literal(values),
                "payload": json.dumps(json_payload(payload), ensure_ascii=False)}

    def _checked_vector(self, vector: Any, what: str) -> np.ndarray:
        values = float_vectors(vector, f"the {what}").reshape(-1)
        if values.shape[0] != self.full_dimension:
            raise ValueError(f"expected a {self.full_dimension}-d {what}, got {values.shape[0]} values")
        if not values[:self.coarse_dimension].any():  # cosine distance to a zero vector is NaN
            raise ValueError(f"the {what} is zero" if not values.any() else
                             f"the {what}'s first {self.coarse_dimension} values (its coarse vector) are all zero")
        return values

    # -- search --------------------------------------------------------------------------------------------
    def candidates_for(self, k: int) -> int:
        return candidate_count(k, self.oversample, self.min_candidates)

    def search_sql(self, vector: Any, k: int = 10, candidates: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """``[(SET LOCAL hnsw.ef_search, {}), (the two-stage SELECT, params)]``: run both in one transaction.

        The SELECT returns ``(id, score, payload)``, best first; score is the full-vector cosine similarity.
        """
        limit = self.candidates_for(k) if candidates is None else int(candidates)
        if limit < k:
            raise ValueError(f"candidates ({limit}) must be >= k ({k})")
        values = self._checked_vector(vector, "query vector")
        d, full = self.coarse_dimension, self.full_dimension
        select = (
            f"WITH candidates AS (SELECT id, embedding, payload FROM {self.table} "
            f"ORDER BY {self._coarse_expression} <=> %(coarse)s::halfvec({d}) LIMIT {limit}) "
            f"SELECT id, 1 - (embedding <=> %(full)s::halfvec({full})) AS score, payload FROM candidates "
            f"ORDER BY embedding <=> %(full)s::halfvec({full}) LIMIT {int(k)}"
        )
        params = {"coarse": vector_literal(values[:d]), "full": vector_literal(values)}
        return [(f"SET LOCAL hnsw.ef_search = {max(limit, self.min_ef_search)}", {}), (select, params)]
