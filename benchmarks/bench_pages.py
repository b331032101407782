"""PDF pages: rendering speed at the model's size, rendering's share of an embed call, and host memory.

Writes a ``--pages``-page report PDF (``qwen3_vl_rag.sample_pdfs``: text, ruled tables, an embedded image,
landscape and rotated pages) and measures:

1. pages/s to the model's input image: this package (PDFium, rendered straight at the smart-resized size
   within ``max_pixels``) against pdf2image over poppler's ``pdftoppm`` (what byaldi uses) at the DPI that
   gives the same pixel budget, then the same smart_resize: the path a user would otherwise write. Each
   renderer runs ``--repeats`` times; the fastest run is reported.
2. the rendering share of one ``embed_documents`` call over the pages on the CPU bench model: the time
   rendering the pages alone takes, over the call's wall time (target: at most 10%).
3. ``--memory N``: peak resident memory above the loaded model during ONE call over an N-page PDF, and
   during ONE call over N PNG files of the same pages (each case in its own process; bench_memory's sampler).
   Target: the PDF's peak no higher than the images'.

    python benchmarks/bench_pages.py                                   # CPU, random bench model
    python benchmarks/bench_pages.py --memory 2000                     # the 2,000-page memory case
    python benchmarks/bench_pages.py --model Qwen/Qwen3-VL-Embedding-2B --device cuda
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

RENDER_SHARE_TARGET = 0.10


def make_pdf(path: Path, pages: int, seed: int = 0) -> Path:
    from qwen3_vl_rag.sample_pdfs import report_pdf

    path.write_bytes(report_pdf("Benchmark report", pages, seed=seed))
    return path


def _options(max_pixels: int):
    from qwen3_vl_rag.core.formats import defaults as D
    from qwen3_vl_rag.core.media import MediaOptions

    return MediaOptions(D.MIN_PIXELS, max_pixels, D.TOTAL_PIXELS, D.FPS, D.NUM_FRAMES, D.MAX_FRAMES)


def render_package(pdf: Path, pages: int, max_pixels: int) -> float:
    """Seconds to turn every page into the model's input image with this package."""
    from qwen3_vl_rag.core.documents import PdfPage, close_documents
    from qwen3_vl_rag.core.media import load_image

    close_documents()
    options = _options(max_pixels)
    start = time.perf_counter()
    for n in range(1, pages + 1):
        load_image(PdfPage(pdf, n), options)
    return time.perf_counter() - start


def poppler_available() -> bool:
    try:
        import pdf2image  # noqa: F401
    except ImportError:
        return False
    return shutil.which("pdftoppm") is not None


def render_pdf2image(pdf: Path, pages: int, max_pixels: int) -> float:
    """Seconds with pdf2image (pdftoppm) at the DPI giving ``max_pixels`` for each page, then smart_resize.
    Consecutive pages of one area share a DPI and are converted in one pdftoppm call (one process)."""
    import pypdfium2
    from pdf2image import convert_from_path

    from qwen3_vl_rag.core.media import load_image

    options = _options(max_pixels)
    document = pypdfium2.PdfDocument(pdf)
    dpis = [72 * math.sqrt(max_pixels / (w * h)) for w, h in (document.get_page_size(i) for i in range(pages))]
    document.close()
    runs: list[tuple[int, int, float]] = []  # (first page, last page, dpi), 1-based
    for n, dpi in enumerate(dpis, start=1):
        if runs and abs(runs[-1][2] - dpi) < 1e-9:
            runs[-1] = (runs[-1][0], n, dpi)
        else:
            runs.append((n, n, dpi))
    start = time.perf_counter()
    for first, last, dpi in runs:
        for image in convert_from_path(str(pdf), dpi=dpi, first_page=first, last_page=last):
            load_image(image, options)
    return time.perf_counter() - start


def share_of_embed_call(embedder, pdf: Path, pages: int, max_pixels: int) -> dict:
    """Wall time of ONE embed_documents call over the pages, against rendering the same pages alone."""
    from qwen3_vl_rag.core.documents import pdf_pages

    items = pdf_pages(pdf)[:pages]
    embedder.embed_documents(items[:1])  # warm-up
    render_s = render_package(pdf, pages, max_pixels)
    with C.recorded_batches(embedder) as batches:
        start = time.perf_counter()
        embedder.embed_documents(items)
        wall = time.perf_counter() - start
    return {"pages": pages, "embed_wall_s": wall, "render_s": render_s, "render_share": render_s / wall,
            "forwards": len(batches), "pages_per_s_embedded": pages / wall}


# -- memory: one process per case -------------------------------------------------------------------
def memory_worker(args) -> dict:
    import bench_memory
    import torch

    from qwen3_vl_rag.core import Qwen3VLEmbedder
    from qwen3_vl_rag.core.documents import pdf_pages, render_page

    if args.threads:
        torch.set_num_threads(args.threads)
    embedder = Qwen3VLEmbedder(args.model_path, device=args.device, max_pixels=args.max_pixels)
    with tempfile.TemporaryDirectory() as tmp:
        pdf = make_pdf(Path(tmp) / "big.pdf", args.memory, args.seed)
        if args.case == "pdf":
            items = pdf_pages(pdf)
        else:  # the same pages as PNG files at the model's size (written before the measurement)
            items = []
            for n in range(1, args.memory + 1):
                path = Path(tmp) / f"page{n:05d}.png"
                render_page(pdf, n, max_pixels=args.max_pixels).save(path)
                items.append({"image": str(path)})
        embedder.embed_documents(items[:1])  # warm-up: allocator, pools
        gc.collect()
        before = bench_memory.rss()
        sampler = bench_memory.PeakSampler(args.interval)
        sampler.start()
        start = time.perf_counter()
        vectors = embedder.embed_documents(items)
        wall = time.perf_counter() - start
        sampler.stop()
    return {"case": args.case, "n": args.memory, "rss_before_bytes": before, "peak_rss_bytes": sampler.peak,
            "growth_bytes": sampler.peak - before, "output_bytes": int(vectors.nbytes), "wall_s": wall,
            "items_per_s": args.memory / wall, "rss_samples": sampler.samples}


def memory_case(args, model_path: str, case: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--case", case, "--model-path", model_path,
           "--memory", str(args.memory), "--device", args.device, "--max-pixels", str(args.max_pixels),
           "--interval", str(args.interval), "--seed", str(args.seed)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"memory worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="Qwen3-VL-Embedding path or hub id (default: random bench model)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--pages", type=int, default=24, help="pages rendered and embedded in cases 1 and 2")
    p.add_argument("--max-pixels", type=int, default=1843200, help="the embedder's max_pixels (official default)")
    p.add_argument("--repeats", type=int, default=2, help="rendering runs per renderer; the fastest is reported")
    p.add_argument("--memory", type=int, default=0, help="case 3: one call over an N-page PDF vs N images")
    p.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval (s)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-cache", default=None)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/pages.json)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--case", choices=["pdf", "images"], help=argparse.SUPPRESS)
    p.add_argument("--model-path", help=argparse.SUPPRESS)
    C.add_size_args(p)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        result = memory_worker(args)
        print("RESULT " + json.dumps(result), flush=True)
        return result
    dtype, _ = C.start_run(args)
    model_path = C.bench_model_path(args, "vl", args.model)
    from qwen3_vl_rag.core import Qwen3VLEmbedder

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pdf = make_pdf(Path(tmp) / "report.pdf", args.pages, args.seed)
        renderers = [("qwen3-vl-rag (pypdfium2)", render_package)]
        if poppler_available():
            renderers.append(("pdf2image (poppler pdftoppm)", render_pdf2image))
        for name, render in renderers:
            render(pdf, 1, args.max_pixels)  # warm-up: imports, PDFium's and poppler's start-up
            best = min(render(pdf, args.pages, args.max_pixels) for _ in range(max(1, args.repeats)))
            rows.append({"renderer": name, "pages": args.pages, "seconds": best, "pages_per_s": args.pages / best})
        embedder = Qwen3VLEmbedder(model_path, device=args.device, torch_dtype=dtype, max_pixels=args.max_pixels)
        share = share_of_embed_call(embedder, pdf, args.pages, args.max_pixels)
    for row in rows:
        row["speed_vs_package"] = row["pages_per_s"] / rows[0]["pages_per_s"]
    table = C.print_table(rows, ["renderer", "pages", "seconds", "pages_per_s", "speed_vs_package"],
                          title=f"bench_pages: pages rendered to the model's input image (max_pixels "
                                f"{args.max_pixels:,}){'' if len(rows) > 1 else '; pdf2image/poppler not installed'}")
    table += "\n" + C.print_table([share], ["pages", "embed_wall_s", "render_s", "render_share", "forwards"],
                                  title=f"rendering's share of one embed call ({args.device}; target <= "
                                        f"{RENDER_SHARE_TARGET:.0%})")
    data = {"benchmark": "pages", "machine": C.machine_info(args.device), "model": model_path,
            "max_pixels": args.max_pixels, "renderers": rows, "embed_call": share,
            "render_share_target_met": share["render_share"] <= RENDER_SHARE_TARGET, "table": table}
    if args.memory:
        cases = [memory_case(args, model_path, case) for case in ("pdf", "images")]
        mib = 1024 * 1024
        memory_table = C.print_table(
            [{"input": f"{c['n']} {'PDF pages' if c['case'] == 'pdf' else 'PNG images'}",
              "rss_model_MiB": c["rss_before_bytes"] / mib, "peak_rss_MiB": c["peak_rss_bytes"] / mib,
              "above_model_MiB": c["growth_bytes"] / mib, "items_per_s": c["items_per_s"]} for c in cases],
            ["input", "rss_model_MiB", "peak_rss_MiB", "above_model_MiB", "items_per_s"],
            title=f"peak host memory of one call, {args.device} (target: the PDF's no higher than the images')")
        data["memory"] = cases
        data["memory_target_met"] = cases[0]["growth_bytes"] <= cases[1]["growth_bytes"] * 1.1 + 32 * mib
        data["table"] += "\n" + memory_table
    C.write_json(data, args.out, "pages")
    return data


if __name__ == "__main__":
    main()
