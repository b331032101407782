"""Peak resident memory while embedding many short texts: does memory stay flat as N grows?

Each case (``--sizes``, default 5,000 and 20,000 texts of 8-32 words) runs in its own subprocess so the
peaks are separate. In the worker: load the embedder, warm it up, build the texts, then embed them in one
``embed_documents`` call while a thread samples the RSS (psutil, every ``--interval`` s). Reported: RSS
before the call (model + texts), the peak during the call, the growth, ``ru_maxrss`` (the process's
lifetime peak, which may be set by model loading), and the output array's size.
Target: the peak at the largest N within 10% of the peak at the smallest.

``--images N`` (the streaming case): N images of 1280x720 in ONE ``embed_documents`` call, with the tiny
test model; reported: the peak RSS above the RSS of the loaded model (target: at most 1.5 GiB, whatever N).
``--videos N``: N and then 5N short clips (4 frames of 1280x720) in ONE call each, same report plus the growth
per added clip (target: at most 1.5 GiB above the model at 5N; a decoded clip holds ~100 MB while in flight).

    python benchmarks/bench_memory.py                                   # CPU, random bench model
    python benchmarks/bench_memory.py --model Qwen/Qwen3-VL-Embedding-2B --device cuda
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

TARGET_GROWTH = 0.10
IMAGE_TARGET_BYTES = 1536 * 1024 * 1024
# Smaller than the other benches' default model: 20,000 texts must embed in a few minutes on 2 cores.
# The memory that grows with N (token ids, outputs) does not depend on depth.
MEMORY_SIZE = dict(hidden=512, layers=4, intermediate=1536, heads=8, kv_heads=4, head_dim=64)


def short_texts(tokenizer, n: int, lo: int = 8, hi: int = 32, seed: int = 0) -> list[str]:
    """``n`` distinct sentences of lo..hi vocabulary words (each word is one token in the Qwen3 vocabulary)."""
    rng = random.Random(seed)
    words = C.word_list(tokenizer)
    return [f"{i} " + " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi))) + "." for i in range(n)]


def rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class PeakSampler(threading.Thread):
    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = rss()
        self.samples = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            self.peak = max(self.peak, rss())
            self.samples += 1
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()
        self.peak = max(self.peak, rss())


def worker(args) -> dict:
    import torch

    from qwen3_vl_rag.core import Qwen3TextEmbedder, Qwen3VLEmbedder

    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = C.resolve_dtype(args.dtype, args.device)
    cls = Qwen3VLEmbedder if args.embedder == "vl" else Qwen3TextEmbedder
    kwargs = {"device": args.device, "torch_dtype": dtype}
    if args.max_batch_size:
        kwargs["max_batch_size"] = args.max_batch_size
    embedder = cls(args.model_path, **kwargs)
    if args.images:
        return image_worker(embedder, args)
    if args.videos:
        return video_worker(embedder, args)
    tokenizer = embedder.encoder.tokenizer if args.embedder == "vl" else embedder.tokenizer
    embedder.embed_documents(short_texts(tokenizer, 64, seed=args.seed + 1))  # warm-up: allocator, pools
    texts = short_texts(tokenizer, args.n, seed=args.seed)
    gc.collect()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = rss()
    sampler = PeakSampler(args.interval)
    sampler.start()
    t = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    wall = time.perf_counter() - t
    sampler.stop()
    return {
        "n": args.n, "rss_before_bytes": before, "peak_rss_bytes": sampler.peak,
        "growth_bytes": sampler.peak - before, "ru_maxrss_before_bytes": maxrss_before,
        "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "output_bytes": int(vectors.nbytes), "wall_s": wall, "texts_per_s": args.n / wall,
        "rss_samples": sampler.samples, "package_file": sys.modules[cls.__module__].__file__,
    }


def one_call(embedder, key: str, paths: list[Path], interval: float) -> dict:
    """Peak RSS of ONE ``embed_documents`` call over ``{key: path}`` items, above the loaded model's (after a
    one-item warm-up: allocator, pools)."""
    embedder.embed_documents([{key: str(paths[0])}])
    gc.collect()
    before = rss()
    sampler = PeakSampler(interval)
    sampler.start()
    t = time.perf_counter()
    vectors = embedder.embed_documents([{key: str(p)} for p in paths])
    wall = time.perf_counter() - t
    sampler.stop()
    return {"n": len(paths), "rss_before_bytes": before, "peak_rss_bytes": sampler.peak,
            "growth_bytes": sampler.peak - before, "output_bytes": int(vectors.nbytes), "wall_s": wall,
            f"{key}s_per_s": len(paths) / wall, "rss_samples": sampler.samples}


def image_worker(embedder, args) -> dict:
    """One call over ``args.images`` files of 1280x720: peak RSS above the loaded model's."""
    import tempfile

    import bench_images

    with tempfile.TemporaryDirectory() as tmp:
        paths = bench_images.make_images(Path(tmp), args.images, args.seed, sizes=[(1280, 720)])
        return one_call(embedder, "image", paths, args.interval)


def make_videos(directory: Path, n: int, seed: int = 0, size=(1280, 720), frames: int = 4, fps: int = 4) -> list[Path]:
    """``n`` distinct mpeg4 clips of ``frames`` frames (moving colour fields + noise), written with PyAV."""
    import av
    import numpy as np

    rng = np.random.RandomState(seed)
    directory.mkdir(parents=True, exist_ok=True)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    paths = []
    for i in range(n):
        path = directory / f"clip{i:04d}.mp4"
        phase = rng.uniform(0, 6.28, 3)
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("mpeg4", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for t in range(frames):
                waves = [127 + 100 * np.sin(x / (17 + 13 * c) + y / 23 + phase[c] + t / 3) for c in range(3)]
                pixels = np.stack(waves, -1)
                frame = np.clip(pixels + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        paths.append(path)
    return paths


def video_worker(embedder, args) -> dict:
    """One call over ``args.n`` short 1280x720 clips: peak RSS above the loaded model's."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return one_call(embedder, "video", make_videos(Path(tmp), args.n, args.seed), args.interval)


def _media_worker(args, model_path: str, forwarded: list[str]) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *forwarded, "--worker", "--model-path", model_path,
           "--device", args.device]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"media worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def image_case(args, model_path: str, forwarded: list[str]) -> dict:
    case = _media_worker(args, model_path, forwarded)
    mib = 1024 * 1024
    table = C.print_table(
        [{"images": case["n"], "rss_model_MiB": case["rss_before_bytes"] / mib,
          "peak_rss_MiB": case["peak_rss_bytes"] / mib, "above_model_MiB": case["growth_bytes"] / mib,
          "images_per_s": case["images_per_s"]}],
        ["images", "rss_model_MiB", "peak_rss_MiB", "above_model_MiB", "images_per_s"],
        title=f"bench_memory: {case['n']} images of 1280x720 in one call, {args.device} (target: <= "
              f"{IMAGE_TARGET_BYTES / mib:.0f} MiB above the loaded model)",
    )
    data = {"benchmark": "memory-images", "machine": C.machine_info(args.device), "model": model_path, "case": case,
            "target_met": case["growth_bytes"] <= IMAGE_TARGET_BYTES, "table": table, "args": vars(args)}
    C.write_json(data, args.out, "memory_images")
    return data


def video_case(args, model_path: str, forwarded: list[str]) -> dict:
    cases = [_media_worker(args, model_path, [*forwarded, "--n", str(n)]) for n in (args.videos, 5 * args.videos)]
    mib = 1024 * 1024
    small, large = cases
    per_video = (large["growth_bytes"] - small["growth_bytes"]) / (large["n"] - small["n"])
    table = C.print_table(
        [{"videos": c["n"], "rss_model_MiB": c["rss_before_bytes"] / mib, "peak_rss_MiB": c["peak_rss_bytes"] / mib,
          "above_model_MiB": c["growth_bytes"] / mib, "videos_per_s": c["videos_per_s"]} for c in cases],
        ["videos", "rss_model_MiB", "peak_rss_MiB", "above_model_MiB", "videos_per_s"],
        title=f"bench_memory: {small['n']} and {large['n']} clips of 4 frames of 1280x720 in one call, {args.device}: "
              f"{per_video / mib:+.1f} MiB per added clip (target: <= {IMAGE_TARGET_BYTES / mib:.0f} MiB above the "
              f"model at {large['n']})",
    )
    data = {"benchmark": "memory-videos", "machine": C.machine_info(args.device), "model": model_path,
            "cases": cases, "growth_per_added_video_bytes": per_video,
            "target_met": large["growth_bytes"] <= IMAGE_TARGET_BYTES, "table": table, "args": vars(args)}
    C.write_json(data, args.out, "memory_videos")
    return data


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--embedder", default="vl", choices=["vl", "text"])
    p.add_argument("--model", help="model path or hub id (default: random bench model, see MEMORY_SIZE)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--sizes", default="5000,20000")
    p.add_argument("--max-batch-size", type=int, default=None, help="package setting (default: its own)")
    p.add_argument("--images", type=int, default=0, help="the streaming case: N 1280x720 images in one call")
    p.add_argument("--videos", type=int, default=0, help="N, then 5N short 1280x720 clips in one call")
    p.add_argument("--interval", type=float, default=0.005, help="RSS sampling period (s)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-cache", default=None)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/memory.json)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--model-path", default=None, help=argparse.SUPPRESS)
    C.add_size_args(p)
    p.set_defaults(**{k: v for k, v in MEMORY_SIZE.items()})
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        result = worker(args)
        print("RESULT " + json.dumps(result), flush=True)
        return result
    import torch

    args.device = args.device or C.default_device()
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a not in ("--worker",)]
    if args.images or args.videos:
        from qwen3_vl_rag import testing

        path = args.model or str(testing.build_tiny_vl_model(Path(C.bench_model_dir("vl", testing.TINY, False,
                                                                                     args.model_cache))))
        return image_case(args, path, forwarded) if args.images else video_case(args, path, forwarded)
    model_path = C.bench_model_path(args, args.embedder, args.model)
    cases = []
    for n in [int(x) for x in args.sizes.split(",")]:
        cmd = [sys.executable, str(Path(__file__).resolve()), *forwarded, "--worker", "--n", str(n),
               "--model-path", model_path, "--device", args.device]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"worker for n={n} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        cases.append(json.loads(lines[-1][len("RESULT "):]))
    small, large = cases[0], cases[-1]
    growth = large["peak_rss_bytes"] / small["peak_rss_bytes"] - 1
    mib = 1024 * 1024
    rows = [{"texts": c["n"], "rss_before_MiB": c["rss_before_bytes"] / mib, "peak_rss_MiB": c["peak_rss_bytes"] / mib,
             "growth_MiB": c["growth_bytes"] / mib, "output_MiB": c["output_bytes"] / mib,
             "ru_maxrss_MiB": c["ru_maxrss_bytes"] / mib, "texts_per_s": c["texts_per_s"]} for c in cases]
    table = C.print_table(
        rows, ["texts", "rss_before_MiB", "peak_rss_MiB", "growth_MiB", "output_MiB", "ru_maxrss_MiB", "texts_per_s"],
        title=f"bench_memory ({args.embedder} embedder, {args.device}): peak RSS at {large['n']} texts is "
              f"{growth:+.1%} vs {small['n']} (target <= +{TARGET_GROWTH:.0%})",
    )
    data = {
        "benchmark": "memory", "machine": C.machine_info(args.device), "embedder": args.embedder, "model": model_path,
        "bench_model_size": None if args.model else C.size_from_args(args).as_dict(), "torch": torch.__version__,
        "cases": cases, "peak_growth_largest_vs_smallest": growth,
        "per_item_bytes": (large["peak_rss_bytes"] - small["peak_rss_bytes"]) / max(1, large["n"] - small["n"]),
        "target_met": growth <= TARGET_GROWTH, "table": table, "args": vars(args),
    }
    C.write_json(data, args.out, "memory")
    return data


if __name__ == "__main__":
    main()
