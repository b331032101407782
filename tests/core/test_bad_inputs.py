"""The bad-input corpus, written from the README's promises ("Errors", "What an item can be", "Remote
backends"), not from what the code happens to do. Every case is one item placed after a valid one:

- ``OK``: the call processes it: N finite unit vectors (or N finite scores in [0, 1]), and the valid item
  before it gets the vector it gets alone;
- a reason: the call raises ``InputError`` with ``index`` = the caller's index of the bad item and the
  reason in the message, and the model ran zero forward passes (a hook on the real ``model`` module) or
  the server got zero requests.

The same items run through the local Qwen3-VL embedder and reranker, the text embedder and reranker (for
the cases a text model takes), and the remote embedder and reranker against the local fault server.
"""

from __future__ import annotations

import numpy as np
import pytest

from .adversarial import ForwardCounter
from .bad_input_corpus import CASES, GOOD, OK, TEXT_MODEL_CASES, _case, _expect_error, _unit_and_finite, make_samples


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return make_samples(tmp_path_factory.mktemp("bad-inputs"))


# -- local Qwen3-VL embedder: every case ------------------------------------------------------------
@pytest.fixture(scope="module")
def vl_good(vl_embedder):
    return vl_embedder.embed([GOOD])[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_vl_embedder(case, vl_embedder, vl_good, samples):
    item = case.make(samples)
    with ForwardCounter(vl_embedder) as forwards:
        if case.expect is OK:
            vectors = vl_embedder.embed([GOOD, item])
            _unit_and_finite(vectors, 2)
            assert np.allclose(vectors[0], vl_good, atol=1e-4)
        else:
            _expect_error(lambda: vl_embedder.embed([GOOD, item]), lambda: forwards.calls, 1, case.expect,
                          case.found_late)


# -- local Qwen3-VL reranker: a subset as documents and as queries ----------------------------------
RERANK_CASES = ["none", "unknown-key", "surrogate", "surrogate-instruction", "missing-file", "empty-path",
                "bomb-144mp-palette", "corrupt-png", "frames-differ-in-size", "gray16", "empty-string", "rgba"]


@pytest.mark.parametrize("case_id", RERANK_CASES)
def test_vl_reranker_document(case_id, vl_reranker, samples):
    case = _case(case_id)
    item = case.make(samples)
    good = vl_reranker.score_pairs([("query", GOOD)])[0]
    with ForwardCounter(vl_reranker) as forwards:
        if case.expect is OK:
            scores = vl_reranker.score_pairs([("query", GOOD), ("query", item)])
            assert scores.shape == (2,) and np.isfinite(scores).all() and ((0 <= scores) & (scores <= 1)).all()
            assert scores[0] == pytest.approx(good, abs=1e-4)
        else:
            _expect_error(lambda: vl_reranker.score_pairs([("query", GOOD), ("other", item)]),
                          lambda: forwards.calls, 1, case.expect, case.found_late)


@pytest.mark.parametrize("case_id", ["int", "surrogate", "bomb-400mp", "video-empty-path"])
def test_vl_reranker_query(case_id, vl_reranker, samples):
    case = _case(case_id)
    with ForwardCounter(vl_reranker) as forwards:
        _expect_error(lambda: vl_reranker.score_pairs([("query", GOOD), (case.make(samples), "doc")]),
                      lambda: forwards.calls, 1, case.expect)


@pytest.mark.parametrize("pair, reason", [(("q",), "pair"), (("q", "d", "e"), "pair"), ("qd", "pair"),
                                          (None, "pair")], ids=["1-tuple", "3-tuple", "str", "none"])
def test_malformed_pairs(pair, reason, vl_reranker, text_reranker):
    for reranker in (vl_reranker, text_reranker):
        with ForwardCounter(reranker) as forwards:
            _expect_error(lambda r=reranker: r.score_pairs([("q", "d"), pair]), lambda: forwards.calls, 1, reason)


# -- text models: the cases a text model takes ------------------------------------------------------
@pytest.mark.parametrize("case_id", TEXT_MODEL_CASES)
def test_text_embedder(case_id, text_embedder):
    case = _case(case_id)
    item = case.make(None)
    with ForwardCounter(text_embedder) as forwards:
        if case.expect is OK:
            vectors = text_embedder.embed([GOOD, item])
            _unit_and_finite(vectors, 2)
            assert np.allclose(vectors[0], text_embedder.embed([GOOD])[0], atol=1e-4)
        else:
            # the text embedder takes strings only: a non-string is refused with its index
            reason = "expected a string" if not isinstance(item, str) else case.expect
            _expect_error(lambda: text_embedder.embed([GOOD, item]), lambda: forwards.calls, 1, reason)


@pytest.mark.parametrize("case_id", TEXT_MODEL_CASES)
def test_text_reranker(case_id, text_reranker):
    case = _case(case_id)
    item = case.make(None)
    with ForwardCounter(text_reranker) as forwards:
        if case.expect is OK:
            scores = text_reranker.score_pairs([("q", GOOD), ("q", item)])
            assert scores.shape == (2,) and np.isfinite(scores).all() and ((0 <= scores) & (scores <= 1)).all()
        else:
            reason = "pair of strings" if not isinstance(item, str) else case.expect
            _expect_error(lambda: text_reranker.score_pairs([("q", GOOD), ("q", item)]),
                          lambda: forwards.calls, 1, reason)


def test_corpus_size_and_categories():
    """The corpus the issue asks for: at least 60 cases, each category present."""
    assert len(CASES) >= 60
    assert {c.category for c in CASES} == {"structure", "text", "image source", "image content", "video"}
    assert len({c.id for c in CASES}) == len(CASES)
