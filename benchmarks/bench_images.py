"""Image embedding throughput of ``Qwen3VLEmbedder`` on files of mixed sizes, and where the time goes.

Writes ``--images`` JPEG/PNG files of mixed sizes and aspect ratios (photo-like gradients with noise,
from 64x64 to 1280x720 and a 1:4 portrait), embeds them with ``embed_documents`` and reports images/s
and the share of wall time in the model's forward passes (the engine's per-batch hook) against host
work (decode, resize, patchify, tokenize, collate), with the public ``encode`` (all host work, no
model) also timed alone. The package runs twice per repeat, interleaved: with one vision attention call per
image size (``EngineTuning(group_vision_attention=True)``, opt-in) and with transformers' per-image attention
loop (the default); the ratio of the two is measured in the same run.

    python benchmarks/bench_images.py                      # CPU, random bench model
    python benchmarks/bench_images.py --model Qwen/Qwen3-VL-Embedding-2B --device cuda --images 500
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import numpy as np  # noqa: E402

SIZES = [(64, 64), (224, 224), (320, 240), (640, 480), (800, 600), (1024, 768), (300, 1200), (1280, 720),
         (150, 400), (512, 512)]


def make_images(directory: Path, n: int, seed: int = 0, sizes=SIZES) -> list[Path]:
    """Deterministic photo-like images (smooth colour fields + noise), alternating JPEG and PNG."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = rng.uniform(0, 6.28, 3)
        channels = [127 + 100 * np.sin(x / (17 + 13 * c) + y / (23 + 7 * c) + phase[c]) for c in range(3)]
        pixels = np.stack(channels, -1) + rng.normal(0, 12, (h, w, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        path = directory / (f"img{i:04d}.jpg" if i % 4 else f"img{i:04d}.png")
        image.save(path, quality=90) if path.suffix == ".jpg" else image.save(path)
        paths.append(path)
    return paths


def run(embedder, paths: list[Path], sync) -> dict:
    """``embed_documents`` over the images; the engine's per-batch hook times the forward passes, and the
    public ``encode`` (decode, resize, patchify, tokenize: no model work) is timed on its own."""
    items = [{"image": str(p)} for p in paths]
    start = time.perf_counter()
    embedder.encode(items)
    host_alone = time.perf_counter() - start
    with C.recorded_batches(embedder) as batches:
        start = time.perf_counter()
        vectors = embedder.embed_documents(items)
        sync()
        wall = time.perf_counter() - start
    model = sum(b.seconds for b in batches)
    return {
        "wall_s": wall, "images_per_s": len(paths) / wall, "vectors_shape": list(vectors.shape),
        "seconds": {"host_encode_alone": host_alone, "model": model, "host_and_other": wall - model},
        "share": {"model": model / wall, "host_and_other": (wall - model) / wall},
        "lm_tokens": sum(b.real_tokens for b in batches), "forward_batches": len(batches),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="Qwen3-VL-Embedding path or hub id (default: random bench model)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--images", type=int, default=40)
    p.add_argument("--max-pixels", type=int, default=None, help="embedder max_pixels (default: the official 1,843,200)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs; the fastest is reported")
    p.add_argument("--image-dir", default=None, help="where the generated images go (default: a temp dir)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-cache", default=None)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/images.json)")
    C.add_size_args(p)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import tempfile

    from PIL import Image

    from qwen3_vl_rag.core import EngineTuning, Qwen3VLEmbedder

    args = parse_args(argv)
    dtype, sync = C.start_run(args)
    path = C.bench_model_path(args, "vl", args.model)
    kwargs = {"device": args.device, "torch_dtype": dtype}
    if args.max_pixels:
        kwargs["max_pixels"] = args.max_pixels
    variants = {"grouped": Qwen3VLEmbedder(path, tuning=EngineTuning(group_vision_attention=True), **kwargs),
                "per-image": Qwen3VLEmbedder(path, **kwargs)}
    with tempfile.TemporaryDirectory() as tmp:
        image_dir = Path(args.image_dir) if args.image_dir else Path(tmp)
        paths = make_images(image_dir, args.images, args.seed)
        sizes = [Image.open(p).size for p in paths]
        bytes_total = sum(p.stat().st_size for p in paths)
        for embedder in variants.values():
            run(embedder, paths[: min(4, len(paths))], sync)  # warm-up
        runs: dict[str, list[dict]] = {name: [] for name in variants}
        for _ in range(args.repeats):  # interleaved: machine load hits both alike
            for name, embedder in variants.items():
                runs[name].append(run(embedder, paths, sync))
    bests = {name: min(found, key=lambda r: r["wall_s"]) for name, found in runs.items()}
    best = bests["grouped"]
    rows = [{"vision_attention": name, "images": len(paths), "wall_s": b["wall_s"], "images_per_s": b["images_per_s"],
             "model_s": b["seconds"]["model"], "host_encode_alone_s": b["seconds"]["host_encode_alone"],
             **{f"{k}_share": v for k, v in b["share"].items()}} for name, b in bests.items()]
    table = C.print_table(
        rows, ["vision_attention", "images", "wall_s", "images_per_s", "model_s", "host_encode_alone_s",
               "model_share", "host_and_other_share"],
        title=f"bench_images: {len(paths)} images, sizes {min(sizes)}..{max(sizes)}, "
              f"{best['lm_tokens']} LM tokens, {args.device} {str(dtype).replace('torch.', '')}",
    )
    speedup = bests["per-image"]["wall_s"] / best["wall_s"]
    print(f"grouped vision attention vs per-image loop: {speedup:.3f}x wall, "
          f"{bests['per-image']['seconds']['model'] / best['seconds']['model']:.3f}x model time")
    data = {
        "benchmark": "images", "machine": C.machine_info(args.device), "dtype": str(dtype), "model": path,
        "bench_model_size": None if args.model else C.size_from_args(args).as_dict(),
        "images": len(paths), "image_sizes": [list(s) for s in sizes], "bytes_total": bytes_total,
        "best": best, "per_image_attention": bests["per-image"], "speedup_grouped_vs_per_image": speedup,
        "all_wall_s": {name: [r["wall_s"] for r in found] for name, found in runs.items()}, "table": table,
        "args": vars(args),
    }
    C.write_json(data, args.out, "images")
    return data


if __name__ == "__main__":
    main()
