"""LlamaIndex ``embed_batch_size``: rows per forward pass and throughput, 32 (the old default) vs 256 (the new).

LlamaIndex hands ``Qwen3VLEmbedding`` ``embed_batch_size`` texts per call; the core packs each call into
forward passes bounded by ``max_batch_tokens`` and ``max_batch_size``. With 32 per call no pass can hold
more than 32 rows, whatever the token budget allows; with 256 the core fills its budget. The table reports
the forward passes, rows per pass and padded tokens per pass of ``VectorStoreIndex``-style ingestion
(``get_text_embedding_batch``) of one corpus, and the wall time (CPU here: the gap grows on a GPU, where a
pass of 64 rows costs about as much as a pass of 32).

    python benchmarks/bench_llama_index_batch.py                 # bench-size random model, 512 texts
    python benchmarks/bench_llama_index_batch.py --model DIR --device cuda --texts 4096
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="Qwen3-VL-Embedding path or hub id (default: random bench model)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--texts", type=int, default=512)
    p.add_argument("--median", type=float, default=48, help="median text length in tokens")
    p.add_argument("--max-len", type=int, default=256)
    p.add_argument("--batch-sizes", default="32,256", help="embed_batch_size values to compare")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--model-cache", default=None)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/llama_index_batch.json)")
    C.add_size_args(p)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    from qwen3_vl_rag.core import Qwen3VLEmbedder
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding

    args = parse_args(argv)
    dtype, sync = C.start_run(args)
    path = C.bench_model_path(args, "vl", args.model)
    core = Qwen3VLEmbedder(path, device=args.device, torch_dtype=dtype)
    texts = C.make_corpus(core.tokenizer, args.texts, median=args.median, hi=args.max_len)
    core.embed_documents(texts[:4])  # warm-up
    rows, results = [], []
    for size in [int(s) for s in args.batch_sizes.split(",")]:
        model = Qwen3VLEmbedding(embedder=core, embed_batch_size=size)
        with C.recorded_batches(core) as passes:
            start = time.perf_counter()
            vectors = model.get_text_embedding_batch(texts)
            sync()
            wall = time.perf_counter() - start
        assert len(vectors) == len(texts)
        result = {
            "embed_batch_size": size, "forward_passes": len(passes),
            "rows_per_pass": C.median([p.rows for p in passes]), "max_rows": max(p.rows for p in passes),
            "padded_tokens_per_pass": C.median([p.padded_tokens for p in passes]),
            "wall_s": wall, "texts_per_s": len(texts) / wall,
        }
        results.append(result)
        rows.append(result)
    table = C.print_table(rows, ["embed_batch_size", "forward_passes", "rows_per_pass", "max_rows",
                                 "padded_tokens_per_pass", "wall_s", "texts_per_s"],
                          title=f"Qwen3VLEmbedding.get_text_embedding_batch, {len(texts)} texts "
                                f"(max_batch_tokens={core.max_batch_tokens}, max_batch_size={core.max_batch_size})")
    data = {"machine": C.machine_info(args.device), "texts": len(texts), "results": results, "table": table}
    C.write_json(data, args.out, "llama_index_batch")
    return data


if __name__ == "__main__":
    main()
