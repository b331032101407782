"""What the weights fingerprint of an embedding identity costs (core/checkpoint.py).

By default on Qwen3-VL-Embedding-8B's tensor layout (36 text layers, 27 vision blocks, 749 bf16 tensors,
16.3 GB in 4 safetensors shards), written as SPARSE files: the headers are real, the data is holes, so
the reads come from the page cache as they do right after a model was loaded. ``--model DIR`` measures a
real checkpoint instead (its first run may read a cold disk: ~3,000 random 16-byte reads for an 8B).

    python benchmarks/bench_fingerprint.py [--model DIR] [--repeat 5] [--out results/fingerprint.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import struct
import tempfile
import time
from pathlib import Path

import _common as C

from qwen3_vl_rag.core import checkpoint

TEXT = dict(hidden=4096, intermediate=12288, layers=36, heads=32, kv_heads=8, head_dim=128, vocab=151936)
VISION = dict(hidden=1152, intermediate=4304, blocks=27, out=4096)


def qwen3_vl_8b_tensors() -> list[tuple[str, list[int]]]:
    """Names and shapes of Qwen3-VL-Embedding-8B's tensors (the layout of its safetensors shards)."""
    h, i, hd = TEXT["hidden"], TEXT["intermediate"], TEXT["head_dim"]
    tensors = [("model.language_model.embed_tokens.weight", [TEXT["vocab"], h])]
    for layer in range(TEXT["layers"]):
        p = f"model.language_model.layers.{layer}."
        tensors += [(p + "self_attn.q_proj.weight", [TEXT["heads"] * hd, h]),
                    (p + "self_attn.k_proj.weight", [TEXT["kv_heads"] * hd, h]),
                    (p + "self_attn.v_proj.weight", [TEXT["kv_heads"] * hd, h]),
                    (p + "self_attn.o_proj.weight", [h, TEXT["heads"] * hd]),
                    (p + "self_attn.q_norm.weight", [hd]), (p + "self_attn.k_norm.weight", [hd]),
                    (p + "mlp.gate_proj.weight", [i, h]), (p + "mlp.up_proj.weight", [i, h]),
                    (p + "mlp.down_proj.weight", [h, i]), (p + "input_layernorm.weight", [h]),
                    (p + "post_attention_layernorm.weight", [h])]
    tensors.append(("model.language_model.norm.weight", [h]))
    vh, vi = VISION["hidden"], VISION["intermediate"]
    for block in range(VISION["blocks"]):
        p = f"model.visual.blocks.{block}."
        tensors += [(p + n, s) for n, s in [
            ("norm1.weight", [vh]), ("norm1.bias", [vh]), ("norm2.weight", [vh]), ("norm2.bias", [vh]),
            ("attn.qkv.weight", [3 * vh, vh]), ("attn.qkv.bias", [3 * vh]), ("attn.proj.weight", [vh, vh]),
            ("attn.proj.bias", [vh]), ("mlp.linear_fc1.weight", [vi, vh]), ("mlp.linear_fc1.bias", [vi]),
            ("mlp.linear_fc2.weight", [vh, vi]), ("mlp.linear_fc2.bias", [vh])]]
    for merger in ["merger"] + [f"deepstack_merger_list.{k}" for k in range(3)]:
        m = 4 * vh
        tensors += [(f"model.visual.{merger}.{n}", s) for n, s in [
            ("norm.weight", [m]), ("norm.bias", [m]), ("linear_fc1.weight", [m, m]), ("linear_fc1.bias", [m]),
            ("linear_fc2.weight", [VISION["out"], m]), ("linear_fc2.bias", [VISION["out"]])]]
    return tensors + [("model.visual.patch_embed.proj.weight", [vh, 3, 2, 16, 16]),
                      ("model.visual.patch_embed.proj.bias", [vh]), ("model.visual.pos_embed.weight", [2304, vh])]


def write_sparse_checkpoint(folder: Path, shards: int = 4) -> int:
    """The 8B layout as ``shards`` sparse bf16 safetensors files; returns the data bytes."""
    tensors = qwen3_vl_8b_tensors()
    total = sum(2 * math.prod(shape) for _, shape in tensors)
    groups: list[list[tuple[str, list[int]]]] = [[] for _ in range(shards)]
    done = 0
    for name, shape in tensors:
        groups[min(shards - 1, done * shards // total)].append((name, shape))
        done += 2 * math.prod(shape)
    for k, group in enumerate(groups):
        header: dict = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name, shape in group:
            size = 2 * math.prod(shape)
            header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
        blob = json.dumps(header).encode()
        with open(folder / f"model-{k + 1:05d}-of-{shards:05d}.safetensors", "wb") as f:
            f.write(struct.pack("<Q", len(blob)) + blob)
            f.truncate(8 + len(blob) + offset)
    return total


def measure(folder: Path, repeat: int) -> dict:
    reads: list[int] = []
    read = checkpoint._read

    def counting(handle, offset, count):
        reads.append(count)
        return read(handle, offset, count)

    checkpoint._read = counting
    try:
        fingerprint = checkpoint.weights_fingerprint(folder)
    finally:
        checkpoint._read = read
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        assert checkpoint.weights_fingerprint(folder) == fingerprint
        seconds.append(time.perf_counter() - start)
    files = sorted(folder.glob("*.safetensors"))
    return {"files": len(files), "data_GB": round(sum(f.stat().st_size for f in files) / 1e9, 2),
            "reads": len(reads), "bytes_read": sum(reads), "median_ms": 1000 * statistics.median(seconds),
            "max_ms": 1000 * max(seconds), "fingerprint": fingerprint}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a local checkpoint folder (default: the sparse 8B layout)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.model) if args.model else Path(scratch)
        if not args.model:
            write_sparse_checkpoint(folder)
        row = {"checkpoint": args.model or "sparse Qwen3-VL-Embedding-8B layout", **measure(folder, args.repeat)}
    table = C.print_table([row], ["checkpoint", "files", "data_GB", "reads", "bytes_read", "median_ms", "max_ms"],
                          title="bench_fingerprint: cost of a local checkpoint's weights fingerprint")
    data = {"benchmark": "fingerprint", "machine": C.machine_info("cpu"), "rows": [row], "table": table,
            "args": vars(args)}
    C.write_json(data, args.out, "fingerprint")
    return data


if __name__ == "__main__":
    main()
