"""Image embedding throughput of ``Qwen3VLEmbedder`` on files of mixed sizes, and where the time goes.

Writes ``--images`` JPEG/PNG files of mixed sizes and aspect ratios (photo-like gradients with noise,
from 64x64 to 1280x720 and a 1:4 portrait), embeds them with ``embed_documents`` and reports images/s
and the share of wall time in each stage, measured by wrapping (in this process only) the package's
functions:

- decode + resize: ``load_image`` (open the file, decode, RGB, qwen-vl-utils ``smart_resize``),
- pixel processing: the processor's image processor (rescale, normalise, patchify),
- tokenize and other host work: the rest of ``encode`` (prompts, expansion, tokenizer, truncation),
- model: the batched forwards (vision tower + language model + pooling).

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


class StageTimer:
    """Wraps callables to accumulate their wall time under a stage name."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed


def run(embedder, paths: list[Path], sync) -> dict:
    from qwen3_vl_rag.core import vl_encoding

    timer = StageTimer()
    original_load = vl_encoding.load_image
    original_processor = embedder.encoder.processor.image_processor
    original_encode = embedder.encode
    original_forward = embedder._forward
    tokens: list[int] = []

    class TimedImageProcessor:  # the processor object is called, and read for merge_size etc.
        def __init__(self, inner):
            self._inner = inner
            self._call = timer.wrap("pixel_processing", inner.__call__)

        def __call__(self, *a, **k):
            return self._call(*a, **k)

        def __getattr__(self, name):
            return getattr(self._inner, name)

    def forward(batch):
        tokens.extend(len(e.ids) for e in batch)
        out = original_forward(batch)
        sync()
        return out

    vl_encoding.load_image = timer.wrap("decode_resize", original_load)
    embedder.encoder.processor.image_processor = TimedImageProcessor(original_processor)
    embedder.encode = timer.wrap("encode_total", original_encode)
    embedder._forward = timer.wrap("model", forward)
    try:
        start = time.perf_counter()
        vectors = embedder.embed_documents([{"image": str(p)} for p in paths])
        sync()
        wall = time.perf_counter() - start
    finally:
        vl_encoding.load_image = original_load
        embedder.encoder.processor.image_processor = original_processor
        del embedder.encode, embedder._forward
    s = timer.seconds
    decode = s.get("decode_resize", 0.0)
    pixels = s.get("pixel_processing", 0.0)
    other_encode = s.get("encode_total", 0.0) - decode - pixels
    model = s.get("model", 0.0)
    rest = wall - s.get("encode_total", 0.0) - model
    return {
        "wall_s": wall, "images_per_s": len(paths) / wall, "vectors_shape": list(vectors.shape),
        "seconds": {"decode_resize": decode, "pixel_processing": pixels, "tokenize_other": other_encode,
                    "model": model, "pooling_normalise_other": rest},
        "share": {"decode_resize": decode / wall, "pixel_processing": pixels / wall,
                  "tokenize_other": other_encode / wall, "model": model / wall,
                  "pooling_normalise_other": rest / wall},
        "lm_tokens": sum(tokens), "forward_batches": timer.calls.get("model", 0),
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

    from qwen3_vl_rag.core import Qwen3VLEmbedder

    args = parse_args(argv)
    dtype, sync = C.start_run(args)
    path = C.bench_model_path(args, "vl", args.model)
    kwargs = {"device": args.device, "torch_dtype": dtype}
    if args.max_pixels:
        kwargs["max_pixels"] = args.max_pixels
    embedder = Qwen3VLEmbedder(path, **kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        image_dir = Path(args.image_dir) if args.image_dir else Path(tmp)
        paths = make_images(image_dir, args.images, args.seed)
        sizes = [Image.open(p).size for p in paths]
        bytes_total = sum(p.stat().st_size for p in paths)
        run(embedder, paths[: min(4, len(paths))], sync)  # warm-up
        runs = [run(embedder, paths, sync) for _ in range(args.repeats)]
    best = min(runs, key=lambda r: r["wall_s"])
    row = {"images": len(paths), "wall_s": best["wall_s"], "images_per_s": best["images_per_s"],
           **{f"{k}_share": v for k, v in best["share"].items()}}
    table = C.print_table(
        [row], ["images", "wall_s", "images_per_s", "decode_resize_share", "pixel_processing_share",
                "tokenize_other_share", "model_share", "pooling_normalise_other_share"],
        title=f"bench_images: {len(paths)} images, sizes {min(sizes)}..{max(sizes)}, "
              f"{best['lm_tokens']} LM tokens, {args.device} {str(dtype).replace('torch.', '')}",
    )
    data = {
        "benchmark": "images", "machine": C.machine_info(args.device), "dtype": str(dtype), "model": path,
        "bench_model_size": None if args.model else C.size_from_args(args).as_dict(),
        "images": len(paths), "image_sizes": [list(s) for s in sizes], "bytes_total": bytes_total,
        "best": best, "all_wall_s": [r["wall_s"] for r in runs], "table": table, "args": vars(args),
    }
    C.write_json(data, args.out, "images")
    return data


if __name__ == "__main__":
    main()
