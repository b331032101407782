"""Bulk ingestion: items/s in process versus N local Ray actors on the CPU, and what starting Ray costs.

The same manifest of texts (log-normal token counts) is embedded three ways with the same batch function
(``qwen3_vl_rag.core.distributed``):

1. in process (``embed_local``), with torch's default threads and with one thread (the ratio is taken
   against the faster: on a loaded machine one multi-threaded process can lose to single-threaded ones),
2. a one-item Ray job (its wall time is the fixed cost of a job: scheduling, actor start, model load),
3. the whole manifest on ``--actors`` Ray actors (``embed_dataset``; CPU actors leave one CPU to Ray).

Reported: ``ray.init`` seconds, the one-item job's seconds (per-job overhead), items/s of each path, the
ratio Ray / best in-process run end to end and after removing the per-job overhead (an estimate of the steady
state), and the largest difference between the two paths' vectors. On a machine with few cores the
actors share the cores the single process already used, so the ratio mostly shows Ray's overhead; on
several GPUs each actor owns a device and the steady-state rate scales with their number.

    python benchmarks/bench_distributed.py                        # CPU, random bench model
    python benchmarks/bench_distributed.py --items 20000 --actors 4 --model Qwen/Qwen3-VL-Embedding-2B --gpus 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import numpy as np  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model path or hub id (default: random Qwen3-VL bench model)")
    p.add_argument("--items", type=int, default=200, help="texts in the manifest")
    p.add_argument("--median-tokens", type=float, default=32)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--gpus", type=float, default=0.0, help="GPUs per actor (0: CPU actors)")
    p.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the local Ray cluster (default: all)")
    p.add_argument("--shard-size", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=None, help="items per model call (default: the embedder's)")
    p.add_argument("--threads", type=int, default=None, help="torch threads in process (default: torch's)")
    p.add_argument("--device", default=None, help="in-process device (default: cuda if available, else cpu)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--model-cache", default=None)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/distributed.json)")
    C.add_size_args(p)
    return p.parse_args(argv)


def _manifest(path: Path, model_path: str, n: int, median: float, hi: int) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    texts = C.make_corpus(tokenizer, n, median=median, sigma=0.8, lo=4, hi=hi, seed=0)
    path.write_text("".join(json.dumps({"id": f"t{i:07d}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def _vectors(output: Path) -> dict:
    from qwen3_vl_rag.core.distributed import read_output

    table = read_output(output)
    return dict(zip(table.column("id").to_pylist(), table.column("vector").to_pylist()))


def main(argv=None) -> dict:
    args = parse_args(argv)
    dtype, _ = C.start_run(args)
    from qwen3_vl_rag.core.distributed import ModelSpec, embed_dataset, embed_local, start_local_ray

    model_path = C.bench_model_path(args, "vl", args.model)
    work = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    manifest = _manifest(work / "items.jsonl", model_path, args.items, args.median_tokens, args.max_tokens)
    one = work / "one.jsonl"
    one.write_text(manifest.read_text().splitlines()[0] + "\n")
    common = dict(shard_size=args.shard_size, batch_size=args.batch_size, progress=False)

    import torch

    local_spec = ModelSpec(model_path, kwargs={"device": args.device, "dtype": dtype})
    local_runs = {}  # torch threads -> wall seconds; each Ray CPU actor runs one thread (OMP_NUM_THREADS)
    for threads in sorted({torch.get_num_threads(), 1}, reverse=True):
        torch.set_num_threads(threads)
        t = time.perf_counter()
        local = embed_local(manifest, work / f"local-{threads}", model=local_spec, **common)
        local_runs[threads] = time.perf_counter() - t
    best_threads = min(local_runs, key=local_runs.get)
    local_wall = local_runs[best_threads]
    (work / f"local-{best_threads}").rename(work / "local")
    torch.set_num_threads(max(local_runs))

    t = time.perf_counter()
    start_local_ray(num_cpus=args.ray_cpus, log_to_driver=False)  # imports ray, on the loopback interface
    import ray

    init_s = time.perf_counter() - t
    ray.data.DataContext.get_current().enable_progress_bars = False
    actor_spec = ModelSpec(model_path, kwargs={"device": "cuda" if args.gpus else "cpu", "dtype": dtype})
    ray_args = dict(model=actor_spec, num_actors=args.actors, num_gpus=args.gpus, max_restarts=1,
                    max_task_retries=1, **common)
    t = time.perf_counter()
    embed_dataset(one, work / "one", **{**ray_args, "num_actors": 1})
    overhead_s = time.perf_counter() - t
    t = time.perf_counter()
    distributed = embed_dataset(manifest, work / "ray", **ray_args)
    ray_wall = time.perf_counter() - t
    cluster_cpus = ray.cluster_resources().get("CPU")
    ray.shutdown()

    a, b = _vectors(work / "local"), _vectors(work / "ray")
    assert sorted(a) == sorted(b) and local.rows == distributed.rows == args.items
    max_diff = max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max()) for k in a)
    local_rate = args.items / local_wall
    ray_rate = args.items / ray_wall
    steady_rate = args.items / max(ray_wall - overhead_s, 1e-9)
    rows = [
        {"path": f"in process, {n} torch thread{'s' if n > 1 else ''}", "items": args.items, "wall_s": wall,
         "items_per_s": args.items / wall, "ratio": local_wall / wall} for n, wall in local_runs.items()
    ] + [
        {"path": f"ray {args.actors} actors", "items": args.items, "wall_s": ray_wall, "items_per_s": ray_rate,
         "ratio": ray_rate / local_rate},
        {"path": f"ray {args.actors} actors, minus job overhead", "items": args.items,
         "wall_s": ray_wall - overhead_s, "items_per_s": steady_rate, "ratio": steady_rate / local_rate},
    ]
    table = C.print_table(rows, ["path", "items", "wall_s", "items_per_s", "ratio"],
                          title=f"bench_distributed: ray.init {init_s:.2f} s, one-item job {overhead_s:.2f} s, "
                                f"max |diff| {max_diff:.2e} ({args.actors} actors, {args.gpus:g} GPU each, "
                                f"Ray CPUs {cluster_cpus:g})")
    data = {
        "benchmark": "distributed", "machine": C.machine_info(args.device), "model": model_path,
        "bench_model_size": None if args.model else C.size_from_args(args).as_dict(),
        "items": args.items, "actors": args.actors, "gpus_per_actor": args.gpus, "ray_cpus": cluster_cpus,
        "shard_size": args.shard_size, "ray_init_s": init_s, "one_item_job_s": overhead_s,
        "in_process": {"wall_s": local_wall, "items_per_s": local_rate, "torch_threads": best_threads,
                       "by_threads": {str(n): {"wall_s": w, "items_per_s": args.items / w}
                                      for n, w in local_runs.items()}},
        "ray": {"wall_s": ray_wall, "items_per_s": ray_rate, "steady_items_per_s_estimate": steady_rate},
        "ratio_ray_over_in_process": ray_rate / local_rate,
        "ratio_steady_over_in_process": steady_rate / local_rate,
        "max_abs_vector_diff": max_diff, "table": table,
    }
    C.write_json(data, args.out, "distributed")
    return data


if __name__ == "__main__":
    main()
