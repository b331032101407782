"""Usage accounting: counts equal the tokens the model ran; totals are thread-safe; costs from a price table."""

import threading

import numpy as np
import pytest

from qwen3_vl_rag.core.usage import Usage, UsageMeter, price_for

from ..conftest import random_image


def test_vl_embedder_counts_the_tokens_it_ran(vl_embedder):
    vl_embedder.reset_usage()
    items = ["a text", {"image": random_image(1), "text": "with an image"}, "another text " * 5]
    seen = []
    remove = vl_embedder.on_batch(seen.append)
    try:
        vl_embedder.embed(items)
    finally:
        remove()
    last = vl_embedder.last_usage
    assert last.prompt_tokens == sum(s.real_tokens for s in seen)  # the attention-mask lengths
    assert (last.requests, last.items) == (1, 3) and last.image_tokens == 6 and last.video_tokens == 0
    vl_embedder.embed(["one more"])
    assert vl_embedder.usage.requests == 2 and vl_embedder.usage.items == 4
    assert vl_embedder.usage.prompt_tokens == last.prompt_tokens + vl_embedder.last_usage.prompt_tokens


def test_rerankers_count_every_pair(vl_reranker, text_reranker):
    for reranker in (vl_reranker, text_reranker):
        reranker.reset_usage()
        encoded = reranker.encode([("q", "a"), ("q", "bb bb")])
        reranker.score("q", ["a", "bb bb"])
        assert reranker.usage.items == 2 and reranker.usage.prompt_tokens == sum(len(e.ids) for e in encoded)
        assert reranker.estimated_cost() == pytest.approx(reranker.usage.prompt_tokens * 0.05 / 1e6)


def test_totals_are_thread_safe_and_last_is_per_thread():
    meter = UsageMeter()
    lasts = {}

    def work(n: int) -> None:
        for _ in range(200):
            meter.record(Usage(1, n, 10 * n, 0, 0, 10 * n))
        lasts[n] = meter.last.items

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = meter.total
    assert total.requests == 1600 and total.items == 200 * sum(range(1, 9)) and lasts == {n: n for n in range(1, 9)}
    assert meter.reset().requests == 1600 and meter.total.requests == 0


def test_prices_by_model_then_kind():
    assert price_for("qwen3-vl-embedding-2b", "embedding") == 0.03
    assert price_for("qwen3-vl-reranker-2b", "rerank", {"qwen3-vl-reranker-2b": 0.2}) == 0.2
    assert Usage(prompt_tokens=2_000_000).cost(0.03) == pytest.approx(0.06)
    assert np.isclose((Usage(1, 2, 3) + Usage(1, 1, 1)).prompt_tokens, 4)
