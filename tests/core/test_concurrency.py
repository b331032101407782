"""Concurrent callers: one forward pass at a time per model, same vectors as sequential calls."""

import asyncio
import threading

import numpy as np


def _overlap_probe(module):
    """Records the most forward passes ever in flight at once on a real module (hooks, no mocks)."""
    state = {"now": 0, "max": 0}
    guard = threading.Lock()

    def enter(*_):
        with guard:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])

    def leave(*_):
        with guard:
            state["now"] -= 1

    handles = [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    return state, handles


def test_async_gather_matches_sync_and_never_overlaps(vl_embedder):
    texts = [[f"text {i}", f"another {i} " * (i + 1)] for i in range(8)]
    expected = [vl_embedder.embed(batch) for batch in texts]
    state, handles = _overlap_probe(vl_embedder.model)

    async def run():
        return await asyncio.gather(*(vl_embedder.aembed(batch) for batch in texts))

    try:
        results = asyncio.run(run())
    finally:
        for handle in handles:
            handle.remove()
    assert state["max"] == 1
    for got, want in zip(results, expected):
        assert np.allclose(got, want, atol=1e-6)


def test_async_rerank_matches_sync(vl_reranker):
    documents = ["a", "bb", "ccc"]
    expected = vl_reranker.score("q", documents)

    async def run():
        return await asyncio.gather(*(vl_reranker.ascore("q", documents) for _ in range(4)))

    for got in asyncio.run(run()):
        assert np.allclose(got, expected, atol=1e-6)
