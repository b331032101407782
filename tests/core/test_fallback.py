"""FallbackEmbedder with the real tiny local embedders: which backend is used, why the others were not,
and clear errors for what a text-only backend cannot embed."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from qwen3_vl_rag.core import InputError
from qwen3_vl_rag.core.fallback import FallbackEmbedder, NoBackendAvailable
from qwen3_vl_rag.core.identity import EmbeddingSpaceMismatch, check_same_space

from ..conftest import random_image


def failing(message: str):
    def factory():
        raise OSError(message)

    return factory


def test_first_that_loads_is_used_and_the_failures_are_recorded(vl_embedder, text_embedder, caplog):
    calls = []

    def text_factory():
        calls.append("text")
        return text_embedder

    embedder = FallbackEmbedder([("local VL 8B", failing("no CUDA and 8B does not fit")), ("local text", text_factory),
                                 ("remote", lambda: pytest.fail("must not be reached"))])
    assert calls == [] and not embedder.loaded  # nothing loads before first use
    with caplog.at_level(logging.WARNING, logger="qwen3_vl_rag.core.fallback"):
        first = embedder.embed_documents(["alpha", "beta"])
        embedder.embed_queries(["alpha"])
    assert calls == ["text"]  # loaded once, kept
    assert embedder.active == "local text" and embedder.backend is text_embedder
    assert embedder.failures == [("local VL 8B", "OSError: no CUDA and 8B does not fit")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no CUDA and 8B does not fit" in warnings[0] and "local text" in warnings[0]
    np.testing.assert_array_equal(first, text_embedder.embed_documents(["alpha", "beta"]))
    assert embedder.dimension == text_embedder.dimension and embedder.model_name == text_embedder.model_name


def test_the_first_candidate_wins_when_it_loads(vl_embedder, text_embedder):
    embedder = FallbackEmbedder([lambda: vl_embedder, lambda: text_embedder], eager=True)
    assert embedder.active == "candidate 0" and embedder.failures == []
    items = ["text", {"image": random_image(1), "text": "caption"}]
    np.testing.assert_array_equal(embedder.embed(items), vl_embedder.embed(items))
    assert embedder.identity.accepts_images


def test_all_failing_lists_every_reason():
    embedder = FallbackEmbedder([("a", failing("first reason")), ("b", lambda: None)])
    with pytest.raises(NoBackendAvailable) as info:
        embedder.embed(["x"])
    assert "a: OSError: first reason" in str(info.value) and "b: the factory returned None" in str(info.value)
    assert [name for name, _ in info.value.failures] == ["a", "b"]


def test_multimodal_item_to_a_text_only_backend_names_the_item(text_embedder):
    embedder = FallbackEmbedder([("local VL", failing("out of memory")), ("local text", lambda: text_embedder)])
    with pytest.raises(InputError) as info:
        embedder.embed_documents(["fine", {"text": "also fine"}, {"image": random_image(2), "text": "x"}])
    assert info.value.index == 2
    assert "an image" in info.value.reason and "'local text'" in info.value.reason and "text-only" in info.value.reason
    assert "local VL" in info.value.reason  # says why the multimodal backend is not in use
    with pytest.raises(InputError, match="input item 0: item has a video"):
        embedder.embed([{"video": ["f0.png", "f1.png"]}])


def test_text_dicts_and_per_item_instructions_reach_a_text_backend(text_embedder):
    embedder = FallbackEmbedder([lambda: text_embedder])
    out = embedder.embed_queries([{"text": ["what is ", "gravity"]}, {"text": "cats", "instruction": "Find pets"},
                                  "plain"])
    expected_0 = text_embedder.embed_queries(["what is gravity"])
    expected_1 = text_embedder.embed(["cats"], instruction="Find pets")
    np.testing.assert_allclose(out[0], expected_0[0], atol=1e-6)
    np.testing.assert_allclose(out[1], expected_1[0], atol=1e-6)
    np.testing.assert_allclose(out[2], text_embedder.embed_queries(["plain"])[0], atol=1e-6)
    assert embedder.embed([]).shape[0] == 0


async def test_async_paths(vl_embedder, text_embedder):
    embedder = FallbackEmbedder([failing("nope"), lambda: text_embedder])
    out = await embedder.aembed_documents(["alpha"])
    np.testing.assert_allclose(out, text_embedder.embed_documents(["alpha"]), atol=1e-6)
    with pytest.raises(InputError):
        await embedder.aembed([random_image(1)])
    vl = FallbackEmbedder([lambda: vl_embedder])
    np.testing.assert_allclose(await vl.aembed_queries(["q"]), vl_embedder.embed_queries(["q"]), atol=1e-6)


def test_fallback_refuses_to_mix_with_vectors_of_the_other_backend(vl_embedder, text_embedder):
    stored = vl_embedder.identity.to_dict()  # what an index recorded when it was built
    embedder = FallbackEmbedder([failing("gone"), lambda: text_embedder])
    with pytest.raises(EmbeddingSpaceMismatch, match="cannot mix"):
        check_same_space(stored, embedder)


def test_a_bug_in_a_factory_propagates_instead_of_falling_back(text_embedder):
    """Issue 15 #6: a NameError in the user's factory is a bug, not a load failure; no silent fallback."""

    def broken():
        return Qwen3VLEmbedderr("model")  # noqa: F821 - the typo is the point

    embedder = FallbackEmbedder([("local VL", broken), ("local text", lambda: text_embedder)])
    with pytest.raises(NameError, match="Qwen3VLEmbedderr"):
        embedder.embed(["x"])
    assert not embedder.loaded
    for error in (TypeError("bad argument"), AttributeError("no such attribute"), KeyError("k")):
        def raising(error=error):
            raise error

        with pytest.raises(type(error)):
            FallbackEmbedder([raising, lambda: text_embedder]).load()


@pytest.mark.parametrize("error", [OSError("not found"), ImportError("no flash_attn"), RuntimeError("CUDA OOM"),
                                   ValueError("a 'qwen3' checkpoint; Qwen3VLEmbedder needs 'qwen3_vl'"),
                                   MemoryError()])
def test_load_failures_move_on(error, text_embedder):
    def raising():
        raise error

    embedder = FallbackEmbedder([("first", raising), ("second", lambda: text_embedder)])
    assert embedder.active == "second" and embedder.failures[0][1].startswith(type(error).__name__)


def test_catch_chooses_what_counts_as_a_load_failure(text_embedder):
    embedder = FallbackEmbedder([failing("gone"), lambda: text_embedder], catch=(ImportError,))
    with pytest.raises(OSError, match="gone"):
        embedder.load()
    with pytest.raises(TypeError, match="catch"):
        FallbackEmbedder([lambda: text_embedder], catch=OSError)


def test_active_tells_which_backend_is_used_before_any_embedding(text_embedder):
    """Issue 15 #6: the README shows ``embedder.active`` answering which backend is used."""
    embedder = FallbackEmbedder([("vl", failing("no GPU")), ("text", lambda: text_embedder)])
    assert embedder.active == "text" and embedder.loaded
    with pytest.raises(NoBackendAvailable):
        _ = FallbackEmbedder([("only", failing("gone"))]).active


@pytest.mark.parametrize("precision", ["float16", "int8", "binary"])
async def test_precision_reaches_the_backend_through_every_path(text_embedder, precision):
    from qwen3_vl_rag.core.precision import calibration_ranges, quantize

    embedder = FallbackEmbedder([("VL", failing("no VL here")), ("text", lambda: text_embedder)])
    items = ["alpha", {"text": "beta", "instruction": "Find the word"}, "gamma"]  # two instruction groups
    kwargs = {"ranges": calibration_ranges(text_embedder.embed(["a", "b c", "d e f", "g"]))} \
        if precision == "int8" else {}
    for sync, async_ in ((embedder.embed, embedder.aembed), (embedder.embed_queries, embedder.aembed_queries),
                         (embedder.embed_documents, embedder.aembed_documents)):
        expected = quantize(sync(items), precision, **kwargs)
        for out in (sync(items, precision=precision, **kwargs), await async_(items, precision=precision, **kwargs)):
            assert out.dtype == expected.dtype and out.shape == expected.shape
            np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="precision must be one of"):
        embedder.embed(items, precision="int4")


def test_bad_precision_is_refused_before_any_backend_loads():
    embedder = FallbackEmbedder([("never", lambda: pytest.fail("must not load"))])
    with pytest.raises(ValueError, match="needs per-dimension ranges"):
        embedder.embed_documents(["a"], precision="uint8")
    assert not embedder.loaded
