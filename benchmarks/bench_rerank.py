"""Reranking throughput: the official one-pair-per-forward Qwen3-VL-Reranker path versus this package.

Two workloads on text pairs: 1 query x 100 documents (``score``) and 20 queries x 50 documents
(``score_pairs`` on all 1,000 pairs). Documents follow a log-normal token-count law, queries are short.
The official path (QwenLM/Qwen3-VL-Embedding ``qwen3_vl_reranker.py`` as described in reference.md §2):
per pair, chat template over the official system/user content, qwen-vl-utils, the processor without
truncation, the reranker's truncation rule, ``Qwen3VLForConditionalGeneration``'s backbone on that one
sequence, score = sigmoid((W_yes - W_no) . h_last). Reported: pairs/s, the ratio package/official and the
largest absolute score difference (target 1e-5). Package variants: ``score`` per query (with the
query-prefix KV reuse when the reranker has it), the same with the reuse off, and ``score_pairs`` on all
pairs at once.

    python benchmarks/bench_rerank.py                        # CPU, random bench model
    python benchmarks/bench_rerank.py --model Qwen/Qwen3-VL-Reranker-2B --device cuda
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import numpy as np  # noqa: E402

TARGETS = {"ratio": 4.0, "max_abs_diff": 1e-5}
SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
          'Note that the answer can only be "yes" or "no".')
INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
SUFFIX_TOKENS = 5  # <|im_end|> \n <|im_start|> assistant \n


class OfficialReranker:
    """One pair per forward, as the official ``Qwen3VLReranker.process`` does."""

    def __init__(self, path: str, device: str, dtype, max_length: int = 10240):
        import torch
        from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

        self.torch = torch
        self.device = device
        self.max_length = max_length
        self.processor = AutoProcessor.from_pretrained(path, padding_side="left")
        full = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
        full = full.to(device).eval()
        tok = self.processor.tokenizer
        yes, no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
        weight = full.lm_head.weight
        self.score_linear = torch.nn.Linear(weight.shape[1], 1, bias=False, device=device, dtype=weight.dtype)
        with torch.no_grad():
            self.score_linear.weight[0] = weight[yes] - weight[no]
        self.model = full.model
        self.special_ids = set(tok.all_special_ids)

    def _conversation(self, query: str, document: str, instruction: str) -> list:
        content = [{"type": "text", "text": "<Instruct>: " + instruction}, {"type": "text", "text": "<Query>:"},
                   {"type": "text", "text": query}, {"type": "text", "text": "\n<Document>:"},
                   {"type": "text", "text": document}]
        return [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
                {"role": "user", "content": content}]

    def _truncate(self, ids: list[int]) -> list[int]:
        """Keep special tokens and the 5-token suffix; keep the first (max_length - n_special) others."""
        body, suffix = ids[:-SUFFIX_TOKENS], ids[-SUFFIX_TOKENS:]
        n_special = sum(1 for t in body if t in self.special_ids)
        budget = self.max_length - n_special
        kept = []
        for t in body:
            if t in self.special_ids:
                kept.append(t)
            elif budget > 0:
                kept.append(t)
                budget -= 1
        return kept + suffix

    def score_pair(self, query: str, document: str, instruction: str = INSTRUCTION) -> float:
        from qwen_vl_utils import process_vision_info

        torch = self.torch
        conversation = self._conversation(query, document, instruction)
        text = self.processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        images, videos = process_vision_info([conversation], image_patch_size=16)
        inputs = self.processor(text=[text], images=images, videos=videos, truncation=False, padding=False,
                                do_resize=False)
        ids = self._truncate(list(inputs["input_ids"][0]))
        batch = self.processor.tokenizer.pad({"input_ids": [ids]}, padding=True, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.no_grad():
            hidden = self.model(**batch).last_hidden_state[:, -1]
            return torch.sigmoid(self.score_linear(hidden)).float().item(), len(ids)


def make_workloads(tokenizer, args) -> dict:
    rng = random.Random(args.seed + 7)
    words = C.word_list(tokenizer)
    docs = C.make_corpus(tokenizer, 100 + 20 * 50, args.doc_median, args.doc_sigma, 8, args.doc_max, args.seed)
    queries = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 16))) + "?" for _ in range(21)]
    return {
        "1x100": [(queries[0], d) for d in docs[:100]],
        "20x50": [(queries[1 + q], docs[100 + q * 50 + j]) for q in range(20) for j in range(50)],
    }


def run_official(official, pairs, sync) -> dict:
    t, c = time.perf_counter(), time.process_time()
    out = [official.score_pair(q, d) for q, d in pairs]
    sync()
    return {"wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c,
            "scores": np.array([s for s, _ in out], dtype=np.float64), "lengths": [n for _, n in out]}


def run_package(reranker, pairs, mode: str, reuse: bool, sync) -> dict:
    """``score`` per query (``mode="score"``) or ``score_pairs`` on all pairs; the engine's per-batch hook
    records every forward pass with its padded and real token counts."""
    previous = reranker.reuse_query_prefix
    reranker.reuse_query_prefix = reuse
    with C.recorded_batches(reranker) as batches:
        t, c = time.perf_counter(), time.process_time()
        if mode == "score":
            scores, start = [], 0
            while start < len(pairs):  # consecutive pairs of one query
                query = pairs[start][0]
                end = start
                while end < len(pairs) and pairs[end][0] == query:
                    end += 1
                scores.append(reranker.score(query, [d for _, d in pairs[start:end]]))
                start = end
            scores = np.concatenate(scores)
        else:
            scores = reranker.score_pairs(pairs)
        sync()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    reranker.reuse_query_prefix = previous
    real = sum(b.real_tokens for b in batches)
    padded = sum(b.padded_tokens for b in batches)
    return {"wall_s": wall, "cpu_s": cpu, "scores": np.asarray(scores, dtype=np.float64), "forwards": len(batches),
            "computed_tokens": real, "padding_efficiency": real / padded if padded else float("nan")}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="Qwen3-VL-Reranker path or hub id (default: random bench model)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--workloads", default="1x100,20x50")
    p.add_argument("--doc-median", type=float, default=48, help="median document length in tokens")
    p.add_argument("--doc-sigma", type=float, default=0.8)
    p.add_argument("--doc-max", type=int, default=512)
    p.add_argument("--repeats", type=int, default=1, help="timed runs per path; the best is reported")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-cache", default=None)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/rerank.json)")
    C.add_size_args(p)
    return p.parse_args(argv)


def main(argv=None) -> dict:

    from qwen3_vl_rag.core import Qwen3VLReranker

    args = parse_args(argv)
    dtype, sync = C.start_run(args)
    path = C.bench_model_path(args, "vl", args.model)
    official = OfficialReranker(path, args.device, dtype)
    package = Qwen3VLReranker(path, device=args.device, torch_dtype=dtype)
    workloads = make_workloads(official.processor.tokenizer, args)
    selected = [w.strip() for w in args.workloads.split(",") if w.strip()]

    has_reuse = hasattr(package, "reuse_query_prefix")
    # package variants: how a RAG pipeline calls it (score per query, with prefix reuse when built), the same
    # without prefix reuse, and score_pairs on all pairs at once (grouped by query with reuse, and plain
    # length-sorted batching without). On 1x100, score_pairs is the same computation as score.
    variants = {"1x100": [("score", True)] + ([("score", False)] if has_reuse else []),
                "20x50": [("score", True), ("score_pairs", True), ("score_pairs", False)]}

    warm = workloads["1x100"][:4]  # untimed warm-up of every path
    run_official(official, warm, sync)
    for mode, reuse in {v for vs in variants.values() for v in vs}:
        run_package(package, warm, mode, reuse, sync)

    results, rows = [], []
    for name in selected:
        pairs = workloads[name]
        runs = {"official": []}
        for _ in range(args.repeats):
            runs["official"].append(run_official(official, pairs, sync))
            gc.collect()
            for mode, reuse in variants.get(name, [("score", True)]):
                label = f"{mode}{'+prefix_kv' if reuse and has_reuse else ''}"
                runs.setdefault(label, []).append(run_package(package, pairs, mode, reuse, sync))
                gc.collect()
        a = min(runs.pop("official"), key=lambda r: r["wall_s"])
        res = {
            "workload": name, "pairs": len(pairs), "prompt_tokens": sum(a["lengths"]),
            "prompt_tokens_median": float(np.median(a["lengths"])),
            "official": {"wall_s": a["wall_s"], "cpu_s": a["cpu_s"], "pairs_per_s": len(pairs) / a["wall_s"],
                         "forwards": len(pairs), "computed_tokens": sum(a["lengths"])},
            "package": {},
        }
        rows.append({"workload": name, "path": "official", "pairs": len(pairs), "forwards": len(pairs),
                     "computed_tokens": sum(a["lengths"]), "wall_s": a["wall_s"],
                     "pairs_per_s": len(pairs) / a["wall_s"],
                     "ratio": 1.0, "ratio_cpu": 1.0, "max_abs_diff": 0.0})
        for label, variant_runs in runs.items():
            b = min(variant_runs, key=lambda r: r["wall_s"])
            diff = float(np.max(np.abs(a["scores"] - b["scores"])))
            entry = {"wall_s": b["wall_s"], "cpu_s": b["cpu_s"], "pairs_per_s": len(pairs) / b["wall_s"],
                     "forwards": b["forwards"], "computed_tokens": b["computed_tokens"],
                     "padding_efficiency": b["padding_efficiency"], "ratio": a["wall_s"] / b["wall_s"],
                     "ratio_cpu_time": a["cpu_s"] / b["cpu_s"], "max_abs_score_diff": diff,
                     "all_wall_s": [r["wall_s"] for r in variant_runs]}
            res["package"][label] = entry
            rows.append({"workload": name, "path": "package " + label, "pairs": len(pairs), "forwards": b["forwards"],
                         "computed_tokens": b["computed_tokens"], "wall_s": b["wall_s"],
                         "pairs_per_s": entry["pairs_per_s"], "ratio": entry["ratio"],
                         "ratio_cpu": entry["ratio_cpu_time"], "max_abs_diff": diff})
        best = max(res["package"].values(), key=lambda e: e["ratio"])
        res["ratio"] = best["ratio"]
        res["max_abs_score_diff"] = max(e["max_abs_score_diff"] for e in res["package"].values())
        res["targets_met"] = {"ratio>=4": res["ratio"] >= TARGETS["ratio"],
                              "max_abs_diff<=1e-5": res["max_abs_score_diff"] <= TARGETS["max_abs_diff"]}
        results.append(res)
    for row in rows:
        row["max_abs_diff"] = f"{row['max_abs_diff']:.1e}"
    table = C.print_table(rows, ["workload", "path", "pairs", "forwards", "computed_tokens", "wall_s", "pairs_per_s",
                                 "ratio", "ratio_cpu", "max_abs_diff"],
                          title=f"bench_rerank: {args.device} {str(dtype).replace('torch.', '')}, documents median "
                                f"{args.doc_median:g} tokens; query-prefix KV reuse "
                                f"{'built (score)' if has_reuse else 'not built'}")
    data = {"benchmark": "rerank", "machine": C.machine_info(args.device), "dtype": str(dtype), "model": path,
            "bench_model_size": None if args.model else C.size_from_args(args).as_dict(), "targets": TARGETS,
            "package_batching": {"max_batch_tokens": package.max_batch_tokens,
                                 "max_batch_size": package.max_batch_size},
            "results": results, "table": table, "args": vars(args)}
    C.write_json(data, args.out, "rerank")
    return data


if __name__ == "__main__":
    main()
