"""Usage accounting: counts equal the tokens the model ran; totals are thread-safe; costs from a price table."""

import asyncio
import io
import threading
import time

import numpy as np
import pytest

from qwen3_vl_rag.core import EngineTuning, InputError, Qwen3VLEmbedder
from qwen3_vl_rag.core.usage import Usage, UsageMeter, price_for

from ..conftest import random_image
from .usage_corpus import CASES, PREPARE, VALIDATION, run_case


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


# -- usage counts what ran (issue 23, items 11 and 12) ---------------------------------------------------------
def _truncated_png(path):
    buffer = io.BytesIO()
    random_image(0, size=(64, 64)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])  # a valid header, cut pixels
    return str(path)


def _hooked(model):
    seen = []
    return seen, model.on_batch(seen.append)


def test_a_call_that_raised_before_its_first_forward_pass_counts_nothing(vl_embedder, tmp_path):
    """A truncated PNG is found when its batch is prepared: zero forward passes, so nothing is counted, and the
    call's own usage (``last_usage``) is empty."""
    vl_embedder.embed(["an earlier call"])
    before = vl_embedder.usage
    seen, remove = _hooked(vl_embedder)
    try:
        with pytest.raises(InputError) as error:
            vl_embedder.embed(["ok", {"image": _truncated_png(tmp_path / "cut.png")}])
        assert error.value.index == 1
        with pytest.raises(InputError):  # refused up front (validation): nothing either
            vl_embedder.embed(["ok", {"image": str(tmp_path / "missing.png")}])
    finally:
        remove()
    assert seen == []
    assert vl_embedder.usage == before and vl_embedder.last_usage == Usage()


def test_a_call_that_failed_mid_run_counts_the_passes_that_ran(tiny_vl_path, tmp_path):
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), max_batch_size=2, tuning=EngineTuning(prefetch_batches=1))
    paths = [str(tmp_path / f"{i}.png") for i in range(5)]
    for i, path in enumerate(paths[:4]):
        random_image(i, size=(64, 64)).save(path)
    _truncated_png(tmp_path / "4.png")
    seen, _ = _hooked(embedder)
    with pytest.raises(InputError) as error:
        embedder.embed([{"image": p} for p in paths])
    assert error.value.index == 4 and 0 < len(seen) < 3
    usage = embedder.usage
    assert (usage.requests, usage.items) == (1, sum(s.rows for s in seen))
    assert usage.prompt_tokens == sum(s.real_tokens for s in seen) and embedder.last_usage == usage


def test_seven_good_concurrent_callers_and_a_bad_one_count_what_the_engine_ran(tiny_vl_path, tmp_path):
    """Eight callers wait together and share batches; the bad one's image breaks when its batch is prepared, so
    the shared run fails and every call runs alone. Usage is what the engine ran, call by call."""
    embedder = Qwen3VLEmbedder(str(tiny_vl_path))
    bad = _truncated_png(tmp_path / "cut.png")
    calls = [[f"caller {c} says " + "word " * (3 * c + i) for i in range(3)] for c in range(7)]
    calls.append(["fine", {"image": bad}, "also fine"])
    own = [sum(len(e.ids) for e in embedder.encode(items)) for items in calls]
    seen, lasts, errors = [], {}, {}
    started, release = threading.Event(), threading.Event()

    def hook(stats):
        seen.append(stats)
        if not started.is_set():  # the first call holds the model until every caller waits
            started.set()
            release.wait(10)

    embedder.on_batch(hook)

    def call(c, items):
        try:
            embedder.embed(items)
        except InputError as exc:
            errors[c] = exc
        lasts[c] = embedder.last_usage

    blocker = threading.Thread(target=call, args=("blocker", ["the first call"]))
    blocker.start()
    started.wait(10)
    threads = [threading.Thread(target=call, args=(c, items)) for c, items in enumerate(calls)]
    for t in threads:
        t.start()
    deadline = time.time() + 10
    while embedder.runner.waiting_calls < 8 and time.time() < deadline:
        time.sleep(0.01)
    release.set()
    for t in [blocker, *threads]:
        t.join(30)
    total = embedder.usage
    assert list(errors) == [7] and errors[7].index == 1
    assert total.prompt_tokens == sum(s.real_tokens for s in seen) and total.items == sum(s.rows for s in seen)
    assert sum((lasts[c] for c in lasts), Usage()) == total  # each caller's last call is its own
    for c in range(7):  # ran in the shared attempt (maybe) and alone: at least its own tokens, whole runs only
        assert lasts[c].requests == 1 and lasts[c].prompt_tokens % own[c] == 0 and lasts[c].prompt_tokens >= own[c]
    assert lasts[7].prompt_tokens < own[7]  # the bad call never ran whole


def test_last_usage_after_await_is_that_calls(vl_embedder, vl_reranker):
    """The async twin runs on a worker thread; its usage comes back to the awaiting task, and each task of a
    ``gather`` sees its own call."""
    texts = [["one"], ["two words here"], ["three " * 9], ["four " * 20]]
    own = [sum(len(e.ids) for e in vl_embedder.encode(t)) for t in texts]
    assert len(set(own)) == len(own)

    async def one(items):
        await vl_embedder.aembed(items)
        return vl_embedder.last_usage

    async def main():
        vl_embedder.embed(["a synchronous call first " * 3])
        alone = await one(texts[0])
        gathered = await asyncio.gather(*(one(t) for t in texts))
        scored = await vl_reranker.ascore("query", ["a", "bb bb"])
        return alone, gathered, scored, vl_reranker.last_usage

    alone, gathered, scores, rerank_last = asyncio.run(main())
    assert alone.prompt_tokens == own[0] and alone.requests == 1
    assert [u.prompt_tokens for u in gathered] == own
    assert len(scores) == 2 and rerank_last.items == 2


def test_last_usage_of_an_async_call_that_raised_is_empty(vl_embedder):
    async def main():
        await vl_embedder.aembed(["first"])
        with pytest.raises(InputError):
            await vl_embedder.aembed(["ok", {"text": 3}])
        return vl_embedder.last_usage

    assert asyncio.run(main()) == Usage()


# -- the usage corpus: concurrency and failure (tests/core/usage_corpus.py) ---------------------------------------
@pytest.fixture(scope="module")
def corpus_model(tiny_vl_path):
    from qwen3_vl_rag.core import Qwen3VLReranker

    models = {}

    def get(kind: str, rows: int):
        if (kind, rows) not in models:
            models[kind, rows] = (
                Qwen3VLEmbedder(str(tiny_vl_path), max_batch_size=rows, tuning=EngineTuning(prefetch_batches=1))
                if kind == "embedder"
                else Qwen3VLReranker(str(tiny_vl_path), max_batch_size=rows, reuse_query_prefix=False))
        return models[kind, rows]

    return get


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_usage_corpus(case, corpus_model, tmp_path):
    model = corpus_model(case.model, case.rows)
    model.reset_usage()
    made, outcomes, blocker, seen = run_case(case, model, tmp_path)
    total = model.usage
    assert total.items == sum(s.rows for s in seen), "usage counts the rows the engine ran"
    assert total.prompt_tokens == sum(s.real_tokens for s in seen) == total.total_tokens
    lasts = [o.last for o in outcomes] + ([blocker.last] if blocker else [])
    assert sum(lasts, Usage()) == total, "each caller's last_usage is its own call"
    assert total.requests == sum(1 for u in lasts if u.items)
    clean = all(c.fails != PREPARE for c in case.calls)  # no shared attempt failed: every call ran once
    for call, items, outcome in zip(case.calls, made, outcomes):
        if call.fails is None:
            encoded = model.encode(items)
            own = sum(len(e.ids) for e in encoded)
            assert not isinstance(outcome.value, Exception), outcome.value
            assert len(outcome.value) == len(items)
            assert outcome.last.requests == int(bool(items)) and outcome.last.prompt_tokens >= own
            if clean:
                image = model.runner.image_token_id
                assert (outcome.last.items, outcome.last.prompt_tokens) == (len(items), own)
                assert outcome.last.image_tokens == sum(e.ids.count(image) for e in encoded)
            continue
        error = outcome.value
        assert isinstance(error, InputError if call.bad_index is not None else ValueError), error
        if call.bad_index is not None:
            assert error.index == call.bad_index
        if call.fails == VALIDATION:
            assert outcome.last == Usage(), "a call refused up front ran nothing"
        else:
            assert "corrupt" in error.reason or "truncated" in error.reason
            if not case.shared and case.rows >= len(items):  # one batch, never run
                assert outcome.last == Usage()


def test_usage_corpus_size_and_categories():
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)
    assert {c.category for c in CASES} == {"one caller", "one coroutine", "shared batches",
                                          "threads and coroutines", "reranker"}
    calls = [call for case in CASES for call in case.calls]
    assert {call.fails for call in calls} == {None, VALIDATION, PREPARE} and {call.via for call in calls} == {
        "thread", "task"}


def test_last_usage_after_await_through_a_fallback_embedder(text_embedder):
    from qwen3_vl_rag.core.fallback import FallbackEmbedder

    fallback = FallbackEmbedder([lambda: text_embedder], eager=True)
    own = sum(len(e.ids) for e in text_embedder.encode(["an awaited call with several words"]))

    async def main():
        text_embedder.embed(["sync"])
        await fallback.aembed(["an awaited call with several words"])
        return text_embedder.last_usage

    assert asyncio.run(main()).prompt_tokens == own
