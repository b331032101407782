"""The batch planner's one knob, ``batch_overhead_tokens``: what one more forward pass costs, in padded tokens.

Two tables, one run:

- **measured** (this machine): a long-tailed corpus embedded by the package with each value of
  ``--overheads``, the values interleaved in every repeat (shared machines drift); tokens/s, padding
  efficiency and forward passes per value, the median of ``--repeats`` runs, and the ratio to the default.
- **planned** (no model): the padded tokens and forward passes the planner makes for the GPU suite's workloads
  (4,000 texts; rerank 1x100 and 20x50 scored one query per call) with shape buckets, at each value; this is
  what a GPU run of ``gpu_suite.py`` executes, so its measured seconds can be read against it.

    python benchmarks/bench_batching.py                       # CPU, random bench model, ~2 minutes
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402


def embed_once(embedder, texts: list[str], sync) -> dict:
    with C.recorded_batches(embedder) as batches:
        start = time.perf_counter()
        embedder.embed_documents(texts)
        sync()
        wall = time.perf_counter() - start
    real = sum(b.real_tokens for b in batches)
    return {"wall_s": wall, "real": real, "padded": sum(b.padded_tokens for b in batches), "forwards": len(batches)}


def measured(args, dtype, sync) -> list[dict]:
    from qwen3_vl_rag.core import EngineTuning, Qwen3TextEmbedder, Qwen3VLEmbedder

    path = C.bench_model_path(args, args.embedder, None)
    cls = Qwen3VLEmbedder if args.embedder == "vl" else Qwen3TextEmbedder
    models = {value: cls(path, device=args.device, torch_dtype=dtype,
                         tuning=EngineTuning(batch_overhead_tokens=value))
              for value in args.overheads}
    default = cls(path, device=args.device, torch_dtype=dtype).options.tuning.batch_overhead_tokens
    texts = C.make_corpus(next(iter(models.values())).tokenizer, args.texts, args.median, args.sigma,
                          args.min_tokens, args.max_tokens, args.seed)
    for model in models.values():
        embed_once(model, texts[:20], sync)  # warm-up
    runs: dict[int, list[dict]] = {value: [] for value in models}
    for repeat in range(args.repeats):
        order = list(models)[repeat % len(models):] + list(models)[:repeat % len(models)]  # rotate the start
        for value in order:
            runs[value].append(embed_once(models[value], texts, sync))
            gc.collect()
    rows = []
    for value, rs in runs.items():
        wall = statistics.median(r["wall_s"] for r in rs)
        rows.append({"batch_overhead_tokens": value, "default": value == default, "wall_s": wall,
                     "tokens_per_s": rs[0]["real"] / wall, "padding_efficiency": rs[0]["real"] / rs[0]["padded"],
                     "forwards": rs[0]["forwards"], "all_wall_s": [r["wall_s"] for r in rs]})
    base = next((r["wall_s"] for r in rows if r["default"]), None)
    for r in rows:
        r["speed_vs_default"] = base / r["wall_s"] if base else float("nan")
    return rows


def planned(args) -> list[dict]:
    """Padded tokens and passes for the GPU suite's workloads under the CUDA planner (shape buckets on)."""
    from bench_rerank import make_workloads

    from qwen3_vl_rag import testing as T
    from qwen3_vl_rag.core.engine import bucket_length, token_budget_batches

    tok = T.tokenizer(real_vocab=not args.tiny_vocab)
    count = lambda texts: [len(x) for x in tok(texts, add_special_tokens=False)["input_ids"]]  # noqa: E731
    texts = C.make_corpus(tok, 4000, 32, 1.0, 8, 1024, args.seed)
    prompt_overhead = {"embed": 20, "rerank": 75}  # template tokens around a text / a (query, document) pair
    calls = {"embed 4,000 texts": [[n + prompt_overhead["embed"] for n in count(texts)]]}
    workload_args = argparse.Namespace(seed=args.seed, doc_median=48, doc_sigma=0.8, doc_max=512)
    for name, pairs in make_workloads(tok, workload_args).items():
        by_query: dict[str, list[str]] = {}
        for query, doc in pairs:
            by_query.setdefault(query, []).append(doc)
        query_tokens = dict(zip(by_query, count(list(by_query))))
        calls[f"rerank {name}"] = [[n + query_tokens[q] + prompt_overhead["rerank"] for n in count(docs)]
                                   for q, docs in by_query.items()]
    rows = []
    for name, lengths_per_call in calls.items():
        for value in args.overheads:
            real = padded = forwards = 0
            for lengths in lengths_per_call:
                for batch in token_budget_batches(lengths, 65536, 256, batch_cost=value, width=bucket_length):
                    forwards += 1
                    real += sum(lengths[i] for i in batch)
                    padded += len(batch) * bucket_length(max(lengths[i] for i in batch))
            rows.append({"workload": name, "batch_overhead_tokens": value, "forwards": forwards,
                         "padded_tokens": padded, "padding_efficiency": real / padded})
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--embedder", default="vl", choices=["vl", "text"])
    p.add_argument("--overheads", default="0,64,256,1024,2048,4096", help="comma list of batch_overhead_tokens values")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--texts", type=int, default=1000)
    p.add_argument("--median", type=float, default=32)
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--min-tokens", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-cache", default=None)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/batching.json)")
    C.add_size_args(p)
    args = p.parse_args(argv)
    args.overheads = [int(v) for v in args.overheads.split(",")]
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    dtype, sync = C.start_run(args)
    rows = measured(args, dtype, sync)
    plan = planned(args)
    table = C.print_table(rows, ["batch_overhead_tokens", "default", "wall_s", "tokens_per_s", "padding_efficiency",
                                 "forwards", "speed_vs_default"],
                          title=f"bench_batching: {args.texts} texts, {args.embedder} embedder, {args.device}, "
                                f"median of {args.repeats}")
    plan_table = C.print_table(plan, ["workload", "batch_overhead_tokens", "forwards", "padded_tokens",
                                      "padding_efficiency"],
                               title="planned on a GPU (shape buckets on, 65,536 tokens / 256 rows per pass)")
    data = {"benchmark": "batching", "machine": C.machine_info(args.device), "args": vars(args), "measured": rows,
            "planned": plan, "table": table + "\n" + plan_table}
    C.write_json(data, args.out, "batching")
    return data


if __name__ == "__main__":
    main()
