"""The two-stage index corpus (two_stage_corpus.py), run against Qdrant's embedded mode with the tiny
Qwen3-VL embedder, from the retrieval docs' promises:

- a bad row (id, payload or vector) placed after a valid one: ``InputError`` with index 1 and the reason,
  nothing stored, and through ``add`` zero forward passes of the real model (a hook on it);
- a valid row: stored, and a search gives back its id and payload as documented (numpy values as the
  equal Python values), with a unit-length full vector and coarse vector;
- a query vector: hits, or a ``ValueError`` saying what is wrong with it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from qwen3_vl_rag.core import InputError  # noqa: E402
from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY  # noqa: E402
from qwen3_vl_rag.core.retrieval import COARSE, FULL, TwoStageIndex  # noqa: E402

from ..adversarial import ForwardCounter  # noqa: E402
from .two_stage_corpus import ID_CASES, OK, PAYLOAD_CASES, QUERY_CASES, SAME, VECTOR_CASES  # noqa: E402

GOOD_ID, GOOD_VECTOR = "good-row", np.linspace(1, 2, 64, dtype=np.float32)
ROW_CASES = ID_CASES + PAYLOAD_CASES


@pytest.fixture
def index(vl_embedder):
    with TwoStageIndex(vl_embedder, ":memory:") as index:
        yield index


def _row(case):
    """(ids, payloads) of a two-row call: a good row, then the case's."""
    if case.category == "ids":
        return [GOOD_ID, case.value], None
    return [GOOD_ID, "case-row"], [{"ok": 1}, case.value]


def _only_hit(index, vector, want_id):
    hits = index.search_vector(vector, k=2, candidates=2)
    found = [h for h in hits if h.id == want_id]
    assert len(found) == 1, [h.id for h in hits]
    return found[0]


@pytest.mark.parametrize("case", [c for c in ROW_CASES if c.expect is not OK], ids=lambda c: f"{c.category}-{c.id}")
def test_bad_row_through_add_stores_nothing_and_runs_no_forward_pass(case, index, vl_embedder):
    ids, payloads = _row(case)
    with ForwardCounter(vl_embedder) as forwards, pytest.raises(InputError) as info:
        index.add(["a valid item", "another valid item"], ids=ids, payloads=payloads)
    assert info.value.index == 1 and case.expect in info.value.reason, info.value.reason
    assert forwards.calls == 0 and len(index) == 0


@pytest.mark.parametrize("case", [c for c in ROW_CASES if c.expect is not OK], ids=lambda c: f"{c.category}-{c.id}")
def test_bad_row_through_add_vectors_stores_nothing(case, index):
    ids, payloads = _row(case)
    with pytest.raises(InputError) as info:
        index.add_vectors(np.stack([GOOD_VECTOR, -GOOD_VECTOR]), ids=ids, payloads=payloads)
    assert info.value.index == 1 and case.expect in info.value.reason
    assert len(index) == 0


@pytest.mark.parametrize("case", [c for c in ROW_CASES if c.expect is OK], ids=lambda c: f"{c.category}-{c.id}")
def test_good_row_reads_back_as_documented(case, index):
    ids, payloads = _row(case)
    want = case.value if case.returns is SAME else case.returns
    stored_id = want if case.category == "ids" else "case-row"
    assert index.add_vectors(np.stack([GOOD_VECTOR, -GOOD_VECTOR]), ids=ids, payloads=payloads) == [GOOD_ID, stored_id]
    assert len(index) == 2
    hit = _only_hit(index, -GOOD_VECTOR, stored_id)
    if case.category == "ids":
        assert hit.id == want and type(hit.id) is type(want)
    else:
        assert {k: v for k, v in hit.payload.items() if k != SPACE_METADATA_KEY} == want
    assert hit.score == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("case", VECTOR_CASES, ids=lambda c: f"{c.category}-{c.id}")
def test_vector_rows(case, index):
    vectors = np.stack([GOOD_VECTOR, case.value])
    if case.expect is not OK:
        with pytest.raises(InputError) as info:
            index.add_vectors(vectors, ids=["a", "b"])
        assert info.value.index == 1 and case.expect in info.value.reason and len(index) == 0
        return
    index.add_vectors(vectors, ids=["a", "b"])
    points, _ = index.client.scroll(index.collection_name, limit=10, with_vectors=True)
    assert len(points) == 2
    for point in points:
        for name in (COARSE, FULL):
            vector = np.asarray(point.vector[name], dtype=np.float64)
            assert np.isfinite(vector).all() and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-2)
    direction = case.value / np.linalg.norm(case.value.astype(np.float64))
    assert _only_hit(index, case.value, "b").score == pytest.approx(1.0, abs=1e-3)
    assert _only_hit(index, direction, "b").score == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("case", QUERY_CASES, ids=lambda c: f"{c.category}-{c.id}")
def test_query_vectors(case, index):
    index.add_vectors(np.stack([GOOD_VECTOR, -GOOD_VECTOR]), ids=["a", "b"])
    if case.expect is OK:
        hits = index.search_vector(case.value, k=2)
        assert [h.id for h in hits] == ["a", "b"] and hits[0].score == pytest.approx(
            float(GOOD_VECTOR @ case.value / np.linalg.norm(GOOD_VECTOR) / np.linalg.norm(case.value.astype(
                np.float64))), abs=1e-3)
    else:
        with pytest.raises(ValueError) as info:
            index.search_vector(case.value, k=2)
        assert case.expect in str(info.value)


@pytest.mark.parametrize("k, candidates, message", [
    (0, None, "k must be a positive integer"), (2, 1, "candidates must be an integer >= k"),
    (2, 2.5, "candidates must be an integer"), (2, True, "candidates must be an integer")])
def test_query_limits(index, k, candidates, message):
    with pytest.raises(ValueError, match=message):
        index.search_vector(GOOD_VECTOR, k=k, candidates=candidates)
