"""``precision=`` on the local embedders: every entry point (sync and async, queries and documents) gives
its float32 output quantized (core.precision), and bad precision arguments fail before any model work."""

from __future__ import annotations

import numpy as np
import pytest

from qwen3_vl_rag.core.precision import PRECISIONS, calibration_ranges, quantize

from ...conftest import random_image

TEXTS = ["a red square", "the quick brown fox", "gravity", "a longer sentence about embeddings and bytes"]


def _kwargs(embedder, precision, dimensions):
    if precision not in ("int8", "uint8"):
        return {}
    return {"ranges": calibration_ranges(embedder.embed(TEXTS + ["calibration", "more"], dimensions=dimensions))}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("dimensions", [None, 13])
async def test_every_entry_point_quantizes_its_float32_output(vl_embedder, precision, dimensions):
    kwargs = _kwargs(vl_embedder, precision, dimensions)
    items = [TEXTS[0], {"image": random_image(1), "text": TEXTS[1]}, TEXTS[2]]
    calls = {
        "embed": (vl_embedder.embed, vl_embedder.aembed),
        "embed_queries": (vl_embedder.embed_queries, vl_embedder.aembed_queries),
        "embed_documents": (vl_embedder.embed_documents, vl_embedder.aembed_documents),
    }
    for name, (sync, async_) in calls.items():
        expected = quantize(sync(items, dimensions=dimensions), precision, **kwargs)
        for out in (sync(items, dimensions=dimensions, precision=precision, **kwargs),
                    await async_(items, dimensions=dimensions, precision=precision, **kwargs)):
            assert out.dtype == expected.dtype and out.shape == expected.shape, name
            np.testing.assert_array_equal(out, expected, err_msg=name)


def test_text_embedder_usage_unchanged_and_empty_input(text_embedder):
    ranges = calibration_ranges(text_embedder.embed(TEXTS))
    codes = text_embedder.embed_queries(TEXTS, precision="int8", ranges=ranges)
    usage = text_embedder.last_usage
    np.testing.assert_array_equal(codes, quantize(text_embedder.embed_queries(TEXTS), "int8", ranges=ranges))
    assert text_embedder.last_usage == usage  # the same requests, items and tokens as the float32 call
    empty = text_embedder.embed([], dimensions=20, precision="binary")
    assert empty.shape == (0, 3) and empty.dtype == np.int8


def test_refusals_come_before_any_model_work(vl_embedder):
    ran = []
    remove = vl_embedder.on_batch(ran.append)
    try:
        with pytest.raises(ValueError, match="precision must be one of 'float32', 'float16'"):
            vl_embedder.embed(TEXTS, precision="int4")
        with pytest.raises(ValueError, match="needs per-dimension ranges"):
            vl_embedder.embed_documents(TEXTS, precision="uint8")
        full = calibration_ranges(np.random.default_rng(0).normal(size=(10, vl_embedder.dimension)))
        with pytest.raises(ValueError, match=rf"shape \(2, {vl_embedder.dimension}\).*16 dimensions"):
            vl_embedder.embed_queries(TEXTS, dimensions=16, precision="int8", ranges=full)
        with pytest.raises(ValueError, match="apply to precision 'int8' / 'uint8' only"):
            vl_embedder.embed(TEXTS, precision="float16", ranges=full)
        with pytest.raises(ValueError, match="NaN"):
            vl_embedder.check(TEXTS, precision="int8", ranges=np.full((2, vl_embedder.dimension), np.nan))
    finally:
        remove()
    assert ran == []


def test_identity_with_precision_names_the_space_of_the_call(vl_embedder):
    ranges = calibration_ranges(vl_embedder.embed(TEXTS, dimensions=16))
    identity = vl_embedder.identity.with_dimension(16).with_precision("int8", ranges=ranges)
    assert identity.precision == "int8" and identity.dimension == 16 and not identity.float_vectors
    assert vl_embedder.identity.precision == "float32"
