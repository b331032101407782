"""The bad-input corpus (tests/core/test_bad_inputs.py) through the remote embedder and reranker: the
local fault server counts requests where the local models count forward passes; a bad item must be
refused before the first request, with the caller's index."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("httpx")

from ..bad_input_corpus import GOOD, OK, Case, _case, _expect_error, _unit_and_finite, make_samples


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return make_samples(tmp_path_factory.mktemp("bad-inputs"))

# -- remote: the fault server counts requests instead of forward passes -----------------------------
REMOTE_CASES = ["none", "unknown-key", "surrogate", "surrogate-in-list", "missing-file", "empty-path",
                "bomb-400mp", "bomb-144mp-palette", "corrupt-png", "aspect-ratio", "gray16", "rgba",
                "empty-string", "frames-ok"]


@pytest.fixture
def remote_embedder(fault_server):
    from qwen3_vl_rag.core.remote import RemoteEmbedder

    from .conftest import openai_embeddings

    fault_server.script("/v1/embeddings", openai_embeddings())
    return RemoteEmbedder("qwen3-vl-embedding-2b", fault_server.base_url, protocol="vllm-chat", native_dimensions=8,
                          api_key_env=None, max_retries=0, timeout=5)


@pytest.mark.parametrize("case_id", REMOTE_CASES)
def test_remote_embedder(case_id, remote_embedder, fault_server, samples):
    case = _case(case_id)
    item = case.make(samples)
    if case_id == "frames-ok":  # frame lists cannot be sent: the README says they are refused clearly
        case = Case(case.id, case.category, case.make, "cannot be sent to a remote server")
    if case.expect is OK:
        vectors = remote_embedder.embed([GOOD, item])
        _unit_and_finite(vectors, 2)
        assert np.allclose(vectors[0], remote_embedder.embed([GOOD])[0], atol=1e-6)
    else:
        _expect_error(lambda: remote_embedder.embed([GOOD, item]), lambda: len(fault_server.requests), 1,
                      case.expect)


@pytest.mark.parametrize("case_id", ["surrogate", "none", "missing-file"])
def test_remote_embedder_openai_protocol(case_id, fault_server, samples):
    from qwen3_vl_rag.core.remote import RemoteEmbedder

    case = _case(case_id)
    e = RemoteEmbedder("qwen3-embedding-0.6b", fault_server.base_url, protocol="openai", api_key_env=None)
    reason = "sends text only" if case_id == "missing-file" else case.expect  # images are refused unopened
    _expect_error(lambda: e.embed([GOOD, case.make(samples)]), lambda: len(fault_server.requests), 1, reason)


@pytest.mark.parametrize("case_id", ["surrogate", "bomb-144mp-palette", "empty-path", "unknown-key"])
def test_remote_reranker(case_id, fault_server, samples):
    from qwen3_vl_rag.core.remote import RemoteReranker

    case = _case(case_id)
    r = RemoteReranker("qwen3-vl-reranker-2b", fault_server.base_url, api_key_env=None, max_retries=0)
    _expect_error(lambda: r.score_pairs([("q", GOOD), ("q", case.make(samples))]),
                  lambda: len(fault_server.requests), 1, case.expect)
