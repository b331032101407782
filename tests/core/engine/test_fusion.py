"""``compile``: torch.compile of the language tower changes no result and compiles a bounded number of graphs.

The graph counts come from torch's own counter (``torch._dynamo.utils.counters``). Most tests compile with
the ``aot_eager`` backend (dynamo's capture and AOT functionalization, no C++ build: seconds); one test
runs inductor, the default backend, end to end.
"""

import warnings

import numpy as np
import pytest

from qwen3_vl_rag.core import EngineTuning, Qwen3TextEmbedder, Qwen3VLEmbedder, Qwen3VLReranker, RuntimeOptions
from qwen3_vl_rag.core.engine.accelerations.fusion import RECOMPILE_LIMIT, compile_language_tower, recompile_limit
from qwen3_vl_rag.core.engine.batches import bucket_length

from ...conftest import random_image

# A long-tailed corpus: most texts short, a few up to 300 tokens ("a a a ..." is one token per word).
LENGTHS = [1 + int(299 * (i / 199) ** 3) for i in range(200)]
TEXTS = [" ".join(["a"] * n) for n in LENGTHS]
MAX_GRAPHS = 2  # rows and length are dynamic: one graph for batches of >= 2 rows, one for single rows


def _graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _shapes(model, run):
    """(result of ``run()``, the distinct (rows, padded length) shapes of its plain forward passes)."""
    seen = []
    remove = model.on_batch(seen.append)
    try:
        out = run()
    finally:
        remove()
    return out, {(s.rows, s.padded_tokens // s.rows) for s in seen if s.path == "plain"}


def test_compile_option_is_checked():
    with pytest.raises(ValueError, match="compile must be"):
        EngineTuning(compile=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape_buckets"):
        EngineTuning(compile=True, shape_buckets=False)
    assert RuntimeOptions.split({"tuning": {"compile": "aot_eager"}, "cache_dir": "x"}) == (
        RuntimeOptions(tuning=EngineTuning(compile="aot_eager")), {"cache_dir": "x"})


def test_the_recompile_limit_is_raised_only_while_compiled_calls_run_even_when_they_overlap():
    """Two threads' calls overlapping as A enters, B enters, A leaves, B leaves: dynamo's global limit is the
    caller's again at the end (``torch._dynamo.config.patch`` per call would leave the raised one behind)."""
    import torch

    config = torch._dynamo.config
    before = config.recompile_limit
    a, b = recompile_limit(), recompile_limit()
    a.__enter__()
    b.__enter__()
    assert config.recompile_limit >= RECOMPILE_LIMIT
    a.__exit__(None, None, None)
    assert config.recompile_limit >= RECOMPILE_LIMIT  # B still runs
    b.__exit__(None, None, None)
    assert config.recompile_limit == before


def test_unknown_backend_is_refused(tiny_text_path):
    with pytest.raises(ValueError, match="neither a torch.compile mode"):
        Qwen3TextEmbedder(str(tiny_text_path), tuning=EngineTuning(compile="warp-speed"))


def test_a_sharded_model_warns_once_and_runs_eagerly(text_embedder):
    tower = text_embedder.model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert compile_language_tower(tower, True, device_map="auto") is False
    assert [str(w.message) for w in caught] == [
        "compile=True is unavailable (the model is sharded with device_map); running eagerly"]
    assert "forward" not in vars(tower)  # the model was left as it was


def test_compiled_text_embedder_matches_eager_and_compiles_a_bounded_number_of_graphs(tiny_text_path,
                                                                                      text_embedder):
    # free passes: the planner runs a pass per length bucket, so the batches take many shapes
    compiled = Qwen3TextEmbedder(str(tiny_text_path),
                                 tuning=EngineTuning(compile="aot_eager", batch_overhead_tokens=0))
    assert compiled.options.tuning.compile == "aot_eager" and compiled.options.tuning.shape_buckets is True
    before = _graphs()
    vectors, shapes = _shapes(compiled, lambda: compiled.embed(TEXTS))
    graphs = _graphs() - before
    widths = {bucket_length(n) for n in LENGTHS}
    # Static shapes would compile once per (rows, bucket) pair seen; dynamic rows and length need 1 or 2.
    assert len(shapes) >= len(widths) > 2 * MAX_GRAPHS
    assert 1 <= graphs <= MAX_GRAPHS
    np.testing.assert_allclose(vectors, text_embedder.embed(TEXTS), atol=1e-5)


def test_compiled_vl_models_match_eager_with_media_and_kv_cache_passes_eager(tiny_vl_path, vl_embedder,
                                                                            vl_reranker):
    compiled = Qwen3VLEmbedder(str(tiny_vl_path), tuning=EngineTuning(compile="aot_eager"))
    items = TEXTS[::2] + [{"image": random_image(3), "text": "a caption"}]  # the image's batch: eager tower
    before = _graphs()
    vectors = compiled.embed(items)
    assert 1 <= _graphs() - before <= MAX_GRAPHS
    np.testing.assert_allclose(vectors, vl_embedder.embed(items), atol=1e-5)

    reranker = Qwen3VLReranker(str(tiny_vl_path), tuning=EngineTuning(compile="aot_eager"))
    pairs = [(f"query {i}", text) for i, text in enumerate(TEXTS[::4])]
    np.testing.assert_allclose(reranker.score_pairs(pairs), vl_reranker.score_pairs(pairs), atol=1e-5)
    documents = TEXTS[::10]  # one query: the shared-prefix path (a KV cache) runs the tower eagerly
    paths = []
    reranker.on_batch(lambda stats: paths.append(stats.path))
    np.testing.assert_allclose(reranker.score("q " * 20, documents), vl_reranker.score("q " * 20, documents),
                               atol=1e-5)
    assert "prefix" in paths
    assert _graphs() - before <= 2 * MAX_GRAPHS  # the reranker's tower has the embedder's structure


def test_inductor_changes_no_vector(tiny_text_path, text_embedder):
    """The default backend, compiled for real (C++ kernels): one graph, as every batch has two rows."""
    texts = [" ".join(["a"] * n) for n in (3, 3, 40, 41, 200, 190)]
    compiled = Qwen3TextEmbedder(str(tiny_text_path), max_batch_size=2, tuning=EngineTuning(compile=True))
    np.testing.assert_allclose(compiled.embed(texts), text_embedder.embed(texts), atol=1e-5)


def test_compiled_packed_batches_match_eager(tiny_text_path, text_embedder):
    """compile and pack_sequences together: packed rows (positions restarting, no mask) through the compiled tower."""
    compiled = Qwen3TextEmbedder(str(tiny_text_path),
                                 tuning=EngineTuning(compile="aot_eager", pack_sequences=True))
    before = _graphs()
    np.testing.assert_allclose(compiled.embed(TEXTS[::4]), text_embedder.embed(TEXTS[::4]), atol=1e-5)
    assert 1 <= _graphs() - before <= MAX_GRAPHS
