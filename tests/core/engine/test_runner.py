"""The Runner: shape buckets, SDPA kernel choice, the streaming media pipeline and its guarantees."""

import io

import numpy as np
import pytest
from PIL import Image

from qwen3_vl_rag.core import EngineTuning, InputError, Qwen3VLEmbedder, RuntimeOptions
from qwen3_vl_rag.core.engine.batches import bucket_length

from ...conftest import random_image


def test_bucket_lengths_are_few_and_close():
    widths = {bucket_length(n) for n in range(1, 4097)}
    assert len(widths) <= 40
    for n in range(1, 4097):
        assert n <= bucket_length(n) and (n <= 64 or bucket_length(n) < 1.25 * n)


def test_defaults_on_cpu_leave_shapes_and_kernels_alone(vl_embedder):
    options = vl_embedder.options
    assert options.tuning.shape_buckets is False and options.tuning.sdpa_kernels is None
    assert (options.max_batch_tokens, options.max_batch_size) == (16384, 64)
    assert options.tuning.host_workers >= 1


def test_buckets_and_kernels_change_shapes_not_vectors(tiny_vl_path, vl_embedder):
    items = ["short", "a longer text about rivers " * 5, {"image": random_image(1), "text": "cap"}, "x" * 70]
    expected = vl_embedder.embed(items)
    bucketed = Qwen3VLEmbedder(str(tiny_vl_path), tuning=EngineTuning(shape_buckets=True, sdpa_kernels=("math",)))
    seen = []
    remove = bucketed.on_batch(seen.append)
    got = bucketed.embed(items)
    remove()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert all(s.padded_tokens % 8 == 0 for s in seen)
    assert sum(s.padded_tokens for s in seen) > sum(s.real_tokens for s in seen)


def test_unknown_options_are_refused(tiny_vl_path):
    with pytest.raises(ValueError, match="sdpa_kernels"):
        Qwen3VLEmbedder(str(tiny_vl_path), tuning=EngineTuning(sdpa_kernels=("fast",)))
    with pytest.raises(ValueError, match="max_batch_size"):
        RuntimeOptions(max_batch_size=0)
    with pytest.raises(ValueError, match="batch_overhead_tokens"):
        EngineTuning(batch_overhead_tokens=-1)
    for name in ("shape_buckets", "pack_sequences"):  # a string such as "no" would read as on
        with pytest.raises(ValueError, match=name):
            EngineTuning(**{name: "no"})
    with pytest.raises(ValueError, match="disagree"):
        RuntimeOptions.split({"dtype": "float32", "torch_dtype": "bfloat16"})


def _jpeg(seed: int, truncated: bool = False) -> bytes:
    buffer = io.BytesIO()
    random_image(seed, size=(64, 64)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    return data[: len(data) // 3] if truncated else data


def test_a_decode_failure_in_a_later_batch_names_the_item_and_returns_nothing(tiny_vl_path, tmp_path):
    """The header is valid (so the up-front checks pass), the pixel data is cut: found while streaming."""
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), max_batch_size=2, tuning=EngineTuning(prefetch_batches=1))
    paths = []
    for i in range(9):
        path = tmp_path / f"img{i}.jpg"
        path.write_bytes(_jpeg(i, truncated=(i == 7)))
        paths.append(path)
    with Image.open(paths[7]) as header_only:
        assert header_only.size == (64, 64)
    batches = []
    embedder.on_batch(batches.append)
    with pytest.raises(InputError) as error:
        embedder.embed([{"image": str(p)} for p in paths])
    assert error.value.index == 7
    assert "truncated" in error.value.reason or "corrupt" in error.value.reason
    assert len(batches) < 5  # it stopped at the bad batch, not after every batch


def test_images_are_decoded_batch_by_batch_not_up_front(tiny_vl_path, tmp_path):
    """Headers are read up front; pixels only when their batch comes up (at most prefetch batches ahead)."""
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), max_batch_size=2,
                               tuning=EngineTuning(prefetch_batches=1, host_workers=1))
    events: list[str] = []
    images = []
    for i in range(8):
        path = tmp_path / f"img{i}.jpg"
        path.write_bytes(_jpeg(i))
        image = Image.open(path)  # lazy: only the header is read until .load()
        original = image.load

        def load(original=original, i=i):
            if image_is_unloaded[i]:
                events.append(f"decode {i}")
                image_is_unloaded[i] = False
            return original()

        image.load = load
        images.append(image)
    image_is_unloaded = [True] * 8
    embedder.on_batch(lambda stats: events.append("forward"))
    vectors = embedder.embed(images)
    assert vectors.shape == (8, embedder.dimension) and np.all(np.isfinite(vectors))
    assert events.count("forward") == 4 and sum(e.startswith("decode") for e in events) == 8
    for position, event in enumerate(events):
        if event == "forward":
            forwards_so_far = events[: position + 1].count("forward")
            decoded_so_far = sum(e.startswith("decode") for e in events[:position])
            assert decoded_so_far <= 2 * (forwards_so_far + 1)  # this batch and one prefetched
    assert events.index("forward") < max(i for i, e in enumerate(events) if e.startswith("decode"))


def test_concurrent_callers_share_forward_passes_and_get_their_own_rows(tiny_vl_path):
    """While the model is busy, eight waiting calls are merged into one batch; each gets exactly its rows."""
    import threading

    embedder = Qwen3VLEmbedder(str(tiny_vl_path), max_batch_size=64)
    calls = [[f"caller {c} item {i} " + "word " * (c + i) for i in range(3)] for c in range(8)]
    expected = [embedder.embed(items) for items in calls]
    started, release = threading.Event(), threading.Event()
    seen = []

    def hook(stats):
        seen.append(stats.rows)
        if len(seen) == 1:  # the first (blocking) call holds the model until every caller is waiting
            started.set()
            release.wait(10)

    embedder.on_batch(hook)
    results: dict[int, np.ndarray] = {}
    blocker = threading.Thread(target=lambda: embedder.embed(["the first call"]))
    blocker.start()
    started.wait(10)
    threads = [threading.Thread(target=lambda c=c: results.__setitem__(c, embedder.embed(calls[c]))) for c in range(8)]
    for t in threads:
        t.start()
    import time

    deadline = time.time() + 10
    while embedder.runner.waiting_calls < 8 and time.time() < deadline:  # all eight queued
        time.sleep(0.01)
    release.set()
    for t in [blocker, *threads]:
        t.join(20)
    # 8 calls of 3 items: a few shared passes (length sorting may split them), each bigger than one call
    assert seen[0] == 1 and sum(seen[1:]) == 24 and len(seen) - 1 <= 3 and max(seen[1:]) > 3
    for c in range(8):
        np.testing.assert_allclose(results[c], expected[c], atol=1e-5)


def test_a_bad_call_merged_with_good_ones_fails_alone(tiny_vl_path, tmp_path):
    import threading

    embedder = Qwen3VLEmbedder(str(tiny_vl_path))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(_jpeg(0, truncated=True))
    good = ["fine text", "another one"]
    expected = embedder.embed(good)
    started, release = threading.Event(), threading.Event()

    def hook(stats):
        if not started.is_set():
            started.set()
            release.wait(10)

    remove = embedder.on_batch(hook)
    outcome: dict[str, object] = {}

    def call(name, items):
        try:
            outcome[name] = embedder.embed(items)
        except InputError as exc:
            outcome[name] = exc

    blocker = threading.Thread(target=call, args=("first", ["x"]))
    blocker.start()
    started.wait(10)
    workers = [threading.Thread(target=call, args=("good", good)),
               threading.Thread(target=call, args=("bad", ["ok", {"image": str(bad)}]))]
    for t in workers:
        t.start()
    import time

    deadline = time.time() + 10
    while embedder.runner.waiting_calls < 2 and time.time() < deadline:
        time.sleep(0.01)
    release.set()
    for t in [blocker, *workers]:
        t.join(20)
    remove()
    assert isinstance(outcome["bad"], InputError) and outcome["bad"].index == 1
    np.testing.assert_allclose(outcome["good"], expected, atol=1e-5)
