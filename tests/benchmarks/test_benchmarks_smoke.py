"""Smoke test of the benchmark scripts: each main() runs on a tiny configuration and writes its JSON.

No timing assertions: the scripts measure, the test only checks that they run and report every field.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

TINY = ["--hidden", "64", "--layers", "1", "--intermediate", "128", "--heads", "2", "--kv-heads", "1",
        "--head-dim", "32", "--vision-depth", "1", "--vision-hidden", "32", "--vision-intermediate", "64",
        "--vision-heads", "1", "--tiny-vocab", "--threads", "1"]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("bench-models"))


def _json(path: Path) -> dict:
    data = json.loads(path.read_text())
    assert data["machine"]["torch_threads"] >= 1 and data["table"]
    return data


def test_bench_embed(tmp_path, model_cache):
    import bench_embed

    out = tmp_path / "embed.json"
    bench_embed.main([*TINY, "--texts", "24", "--max-tokens", "48", "--model-cache", model_cache, "--out", str(out)])
    data = _json(out)
    assert data["matmul_peak_flops"] > 0 and data["matmul_peak_flops_per_cpu_s"] > 0
    assert [r["embedder"] for r in data["results"]] == ["vl", "text"]
    for res in data["results"]:
        assert res["cosine_min"] > 0.9999
        assert set(res["targets_met"]) == {"ratio>=2.0", "padding_efficiency>=0.9", "flop_utilisation>=0.5",
                                           "cosine>=0.9999"}
        assert res["ratio_package_over_official"] > 0 and res["text_tokens"]["min"] >= 1
        for row in res["rows"]:
            for key in ("wall_s", "tokens_per_s", "padding_efficiency", "useful_gflop_per_s", "flop_utilisation",
                        "flop_utilisation_cpu_time"):
                assert row[key] > 0, key
            assert 0 < row["padding_efficiency"] <= 1


def test_bench_images(tmp_path, model_cache):
    import bench_images

    out = tmp_path / "images.json"
    bench_images.main([*TINY, "--images", "5", "--repeats", "1", "--max-pixels", "65536", "--model-cache",
                       model_cache, "--out", str(out)])
    data = _json(out)
    best = data["best"]
    assert data["images"] == 5 and best["images_per_s"] > 0 and best["vectors_shape"][0] == 5
    assert set(best["share"]) == {"model", "host_and_other"}
    assert best["seconds"]["host_encode_alone"] > 0 and best["seconds"]["model"] > 0
    assert best["forward_batches"] >= 1 and best["lm_tokens"] > 5


def test_bench_rerank(tmp_path, model_cache):
    import bench_rerank

    out = tmp_path / "rerank.json"
    bench_rerank.main([*TINY, "--workloads", "1x100", "--doc-median", "8", "--doc-max", "16", "--model-cache",
                       model_cache, "--out", str(out)])
    data = _json(out)
    (res,) = data["results"]
    assert res["pairs"] == 100 and res["official"]["forwards"] == 100
    assert res["ratio"] > 0 and res["max_abs_score_diff"] <= 1e-5 and res["package"]
    assert set(res["targets_met"]) == {"ratio>=4", "max_abs_diff<=1e-5"}


def test_bench_memory(tmp_path, model_cache):
    import bench_memory

    out = tmp_path / "memory.json"
    bench_memory.main([*TINY, "--sizes", "16,32", "--model-cache", model_cache, "--out", str(out)])
    data = _json(out)
    assert [c["n"] for c in data["cases"]] == [16, 32]
    for case in data["cases"]:
        assert case["peak_rss_bytes"] >= case["rss_before_bytes"] > 0 and case["output_bytes"] > 0
    assert isinstance(data["target_met"], bool) and "peak_growth_largest_vs_smallest" in data


def test_bench_llama_index_batch(tmp_path, model_cache):
    import bench_llama_index_batch

    out = tmp_path / "li.json"
    bench_llama_index_batch.main([*TINY, "--texts", "40", "--max-len", "32", "--batch-sizes", "4,64",
                                  "--model-cache", model_cache, "--out", str(out)])
    data = _json(out)
    small, large = data["results"]
    assert small["max_rows"] <= 4 < large["max_rows"] and small["forward_passes"] > large["forward_passes"]
