"""Quantized weights (``quantization="int8" | "int4"``): fidelity to float32, CPU throughput, memory.

    python benchmarks/bench_quantization.py                      # tiny real-vocabulary and bench-size models
    python benchmarks/bench_quantization.py --model PATH         # a real Qwen3-VL-Embedding checkpoint
    python benchmarks/bench_quantization.py --model PATH --reranker-model PATH2

Three tables (docs/quantization.md):

1. Fidelity, per mode and input kind (text, image, mixed): cosine of each vector to the float32 vector of
   the same input (min / mean) and recall@10 agreement (the share of float32's top 10 documents per query
   that the quantized model also ranks in its top 10), plus the reranker's score |delta| (max / mean). The
   ``int8-vision`` row keeps the vision tower in float (CPU int8 quantizes it) and
   ``int8+head`` quantizes the reranker's yes/no rows (the package keeps them float32), to show the choices.
   Random weights spread activations evenly, so the fidelity here is a LOWER BOUND on what trained weights
   show: pass ``--model`` for the real figure.
2. CPU throughput of text embedding (tokens/s) per mode against float32 (and bfloat16), measured in one run
   with the repeats interleaved; the median of each is reported.
3. Memory of the released 2B shape per mode: one decoder layer of the 2B shape built on the CPU from its
   config and quantized by each backend, its stored bytes per parameter measured, times the layers, plus the
   parts every mode keeps in float (embeddings, vision tower, norms); the 8B by the same arithmetic.

Writes benchmarks/results/quantization.json.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

MODES = ("int8", "int4")
TARGET = {"int8_speedup": 1.5, "int8_cosine": 0.99}


# -- inputs -----------------------------------------------------------------------------------------------


def images(n: int, side: int, seed: int) -> list:
    """Random-texture RGB images (distinct per index)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(n)]


def inputs(tokenizer, args) -> dict[str, list]:
    texts = C.make_corpus(tokenizer, args.docs, median=args.text_median, sigma=0.6, lo=4, hi=4 * args.text_median,
                          seed=args.seed)
    pics = images(args.images, args.image_side, args.seed)
    mixed = [{"text": texts[i % len(texts)], "image": pics[i % len(pics)]} for i in range(args.images)]
    return {"text": texts, "image": [{"image": p} for p in pics], "mixed": mixed}


def recall_agreement(queries_ref, docs_ref, queries_q, docs_q, k: int = 10) -> float:
    """Mean share of the float32 top-k documents per query that the quantized vectors also rank top-k."""
    k = min(k, docs_ref.shape[0])
    top_ref = np.argsort(-(queries_ref @ docs_ref.T), axis=1)[:, :k]
    top_q = np.argsort(-(queries_q @ docs_q.T), axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top_ref, top_q)]))


# -- variants ---------------------------------------------------------------------------------------------


def load_embedder(path: str, mode: str | None, threads_dtype=None):
    """The embedder in ``mode``: None, "int8", "int4", or "int8-vision" (CPU int8 with the vision tower kept
    in float, the alternative to the package's choice)."""
    from qwen3_vl_rag.core import Qwen3VLEmbedder
    from qwen3_vl_rag.core.engine.quantization import quantize_linear_int8

    if mode == "int8-vision":
        embedder = Qwen3VLEmbedder(path, device="cpu", torch_dtype=threads_dtype)
        quantize_linear_int8(embedder.model, keep=("visual", "lm_head"))
        return embedder
    return Qwen3VLEmbedder(path, device="cpu", quantization=mode, torch_dtype=threads_dtype)


def fidelity(args, path: str, reranker_path: str, label: str) -> list[dict]:
    from qwen3_vl_rag.core import Qwen3VLReranker
    from qwen3_vl_rag.core.engine.heads import RelevanceHead

    rows: list[dict] = []
    ref_model = load_embedder(path, None)
    data = inputs(ref_model.tokenizer, args)
    queries = C.make_corpus(ref_model.tokenizer, args.queries, median=12, sigma=0.3, lo=3, hi=40, seed=args.seed + 1)
    ref = {kind: ref_model.embed(items) for kind, items in data.items()}
    ref_q = ref_model.embed(queries, instruction="Find the matching item")
    del ref_model
    gc.collect()
    for mode in (*MODES, "int8-vision"):
        try:
            model = load_embedder(path, mode)
        except Exception as exc:  # noqa: BLE001 - a mode refused here is a row saying why
            rows.append({"checkpoint": label, "mode": mode, "kind": "-", "skipped": f"{type(exc).__name__}: {exc}"})
            continue
        q = model.embed(queries, instruction="Find the matching item")
        for kind, items in data.items():
            vectors = model.embed(items)
            cos = np.sum(vectors * ref[kind], axis=1)
            rows.append({"checkpoint": label, "mode": mode, "kind": kind, "n": len(items),
                         "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
                         "recall@10_agreement": recall_agreement(ref_q, ref[kind], q, vectors)})
        del model
        gc.collect()
    # reranker: (query, text document) and (query, image document) pairs
    pairs = [(queries[i % len(queries)], d) for i, d in enumerate(data["text"][: args.pairs])]
    pairs += [(queries[i % len(queries)], d) for i, d in enumerate(data["image"][: args.pairs // 2])]
    reference = Qwen3VLReranker(reranker_path, device="cpu", reuse_query_prefix=False)
    base_scores = reference.score_pairs(pairs)
    reference.head = RelevanceHead(_int8_rows(reranker_path, reference.encoder.tokenizer))
    variants = {"int8+head": reference.score_pairs(pairs)}
    del reference
    for mode in MODES:
        try:
            variants[mode] = Qwen3VLReranker(reranker_path, device="cpu", quantization=mode,
                                             reuse_query_prefix=False).score_pairs(pairs)
        except Exception as exc:  # noqa: BLE001
            rows.append({"checkpoint": label, "mode": mode, "kind": "rerank",
                         "skipped": f"{type(exc).__name__}: {exc}"})
        gc.collect()
    for mode in (*MODES, "int8+head"):
        if mode in variants:
            delta = np.abs(variants[mode] - base_scores)
            rows.append({"checkpoint": label, "mode": mode, "kind": "rerank", "n": len(pairs),
                         "score_delta_max": float(delta.max()), "score_delta_mean": float(delta.mean())})
    return rows


def _int8_rows(path: str, tokenizer) -> object:
    """The yes - no row as an lm_head quantized to int8 per row (the int8 backend's scheme) would give it: the
    two rows read from the checkpoint's safetensors (the tied embedding when there is no separate head)."""
    import torch
    from safetensors import safe_open

    from qwen3_vl_rag.core.engine.heads import single_token_id

    ids = [single_token_id(tokenizer, "yes"), single_token_id(tokenizer, "no")]
    found = {}
    for file in sorted(Path(path).glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():
                if key.endswith(("lm_head.weight", "embed_tokens.weight")):
                    found[key.endswith("lm_head.weight")] = f.get_slice(key)[ids[0]:ids[0] + 1], \
                        f.get_slice(key)[ids[1]:ids[1] + 1]
    yes, no = found.get(True) or found[False]

    def q(v):
        scale = v.float().abs().max() / 127
        return torch.round(v.float() / scale).clamp(-127, 127) * scale

    return (q(yes) - q(no))[0]


# -- throughput -------------------------------------------------------------------------------------------


def throughput(args, path: str) -> list[dict]:
    """Text embedding tokens/s of each mode (and bfloat16), then image embedding of float32, int8 and
    int8-vision (the vision tower's share): repeats interleaved, median per row."""
    import torch

    variants: dict[str, object] = {"float32": load_embedder(path, None)}
    tok = variants["float32"].tokenizer  # type: ignore[attr-defined]
    texts = C.make_corpus(tok, args.speed_texts, median=args.speed_median, sigma=0.5, lo=8,
                          hi=4 * args.speed_median, seed=args.seed + 2)
    pics = [{"image": p} for p in images(args.speed_images, args.speed_image_side, args.seed + 3)]
    for mode in (*MODES, "int8-vision"):
        try:
            variants[mode] = load_embedder(path, mode)
        except Exception as exc:  # noqa: BLE001
            print(f"{mode}: skipped ({exc})", flush=True)
    if not args.no_bf16:
        variants["bfloat16"] = load_embedder(path, None, threads_dtype=torch.bfloat16)
    jobs = {(name, "text"): texts for name in variants if name != "int8-vision"}
    jobs.update({(name, "image"): pics for name in ("float32", "int8", "int8-vision") if name in variants})
    units = {"text": sum(len(e.ids) for e in variants["float32"].encode(texts)),  # type: ignore[attr-defined]
             "image": len(pics)}
    walls: dict[tuple[str, str], list[float]] = {key: [] for key in jobs}
    vectors: dict[tuple[str, str], np.ndarray] = {}
    for (name, _), items in jobs.items():
        variants[name].embed(items[:2])  # type: ignore[attr-defined]  # warm-up
    for _ in range(args.repeats):
        for (name, kind), items in jobs.items():
            start = time.perf_counter()
            vectors[(name, kind)] = variants[name].embed(items)  # type: ignore[attr-defined]
            walls[(name, kind)].append(time.perf_counter() - start)
    rows = []
    for (name, kind), wall in walls.items():
        base = C.median(walls[("float32", kind)])
        cos = np.sum(vectors[(name, kind)] * vectors[("float32", kind)], axis=1)
        rate = "tokens_per_s" if kind == "text" else "images_per_s"
        rows.append({"mode": name, "input": kind, "items": len(jobs[(name, kind)]), "tokens": units["text"]
                     if kind == "text" else None, "wall_s": C.median(wall), rate: units[kind] / C.median(wall),
                     "speedup": base / C.median(wall), "cosine_min": float(cos.min()), "all_wall_s": wall})
    return rows


# -- memory -----------------------------------------------------------------------------------------------


def _stored_bytes(module) -> int:
    buffer = io.BytesIO()
    import torch

    torch.save(module.state_dict(), buffer)
    return len(buffer.getvalue())


def _bnb_layer(layer, four_bit: bool):
    """``layer`` with its linears replaced by bitsandbytes' (quantized on the CPU when moved there)."""
    import bitsandbytes as bnb
    import torch

    for name, child in list(layer.named_children()):
        if isinstance(child, torch.nn.Linear):
            if four_bit:
                new = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                        quant_type="nf4", compute_dtype=torch.float32)
                new.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4")
            else:
                new = bnb.nn.Linear8bitLt(child.in_features, child.out_features, bias=child.bias is not None,
                                          has_fp16_weights=False)
                new.weight = bnb.nn.Int8Params(child.weight.data, requires_grad=False, has_fp16_weights=False)
            setattr(layer, name, new.to("cpu"))
        else:
            _bnb_layer(child, four_bit)
    return layer


def memory(args) -> list[dict]:  # noqa: C901 - one table, built in one place
    """Bytes per parameter of one 2B-shape decoder layer per backend, scaled to the 2B and 8B shapes."""
    import torch
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextDecoderLayer

    from qwen3_vl_rag import testing as T
    from qwen3_vl_rag.core.engine.quantization import quantize_linear_int8

    tok = T.tokenizer(real_vocab=C._real_vocab_available())
    rows = []
    for shape_name, size in (("2B", T.QWEN3_VL_2B), ("8B", T.QWEN3_VL_8B)):
        config = T.vl_config(size, tok)
        with torch.device("meta"):
            from transformers import Qwen3VLForConditionalGeneration

            whole = Qwen3VLForConditionalGeneration(config)
        total = sum(p.numel() for p in whole.parameters())
        layers = whole.model.language_model.layers
        decoder_params = sum(p.numel() for p in layers.parameters())
        vision_params = sum(p.numel() for p in whole.model.visual.parameters())
        del whole
        if shape_name == "2B":  # measured on a real 2B-shape layer; the 8B uses the same bytes per parameter
            torch.manual_seed(0)
            text_config = config.text_config if args.memory_layer == "2B" else T.vl_config(T.TINY, tok).text_config
            layer_params = sum(p.numel() for p in Qwen3VLTextDecoderLayer(text_config, 0).parameters())
            fresh = lambda: Qwen3VLTextDecoderLayer(text_config, 0).eval()  # noqa: E731,B023
            measured = {"float32": _stored_bytes(fresh()) / layer_params,
                        "bfloat16": _stored_bytes(fresh().to(torch.bfloat16)) / layer_params}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                measured["int8 (cpu: torch dynamic)"] = _stored_bytes(quantize_linear_int8(fresh())) / layer_params
                try:
                    measured["int8 (cuda: bitsandbytes)"] = _stored_bytes(_bnb_layer(fresh(), False)) / layer_params
                    measured["int4 (bitsandbytes nf4)"] = _stored_bytes(_bnb_layer(fresh(), True)) / layer_params
                except Exception as exc:  # noqa: BLE001 - bitsandbytes missing or without a CPU backend
                    print(f"bitsandbytes layer not measured: {exc}", flush=True)
            gc.collect()
        for mode, per_param in measured.items():
            float_bytes = 4 if mode == "float32" else 2  # kept parts: float32 on a CPU, bfloat16 on a GPU
            if mode.startswith("int8 (cpu"):
                float_bytes = 4
            quantized = decoder_params + (vision_params if mode.startswith("int8 (cpu") else 0)  # CPU int8: both towers
            kept = total - quantized
            gib = (per_param * quantized + kept * float_bytes) / 2**30
            rows.append({"shape": shape_name, "mode": mode, "layer_bytes_per_param": per_param,
                         "quantized_params_M": quantized / 1e6, "kept_float_params_M": kept / 1e6,
                         "kept_float_bytes": float_bytes, "weights_GiB": gib,
                         "source": f"{args.memory_layer} layer measured" if shape_name == "2B"
                         else "2B bytes/param x 8B counts"})
    return rows


# -- main -------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a Qwen3-VL-Embedding path or hub id (default: random tiny and bench models)")
    p.add_argument("--reranker-model", help="a Qwen3-VL-Reranker path (default: --model, or the random models)")
    p.add_argument("--docs", type=int, default=64)
    p.add_argument("--queries", type=int, default=16)
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--image-side", type=int, default=96)
    p.add_argument("--text-median", type=int, default=48)
    p.add_argument("--pairs", type=int, default=24)
    p.add_argument("--speed-texts", type=int, default=48)
    p.add_argument("--speed-median", type=int, default=96)
    p.add_argument("--speed-images", type=int, default=16)
    p.add_argument("--speed-image-side", type=int, default=224)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-bf16", action="store_true", help="skip the bfloat16 throughput row")
    p.add_argument("--no-memory", action="store_true", help="skip the released-shape memory table")
    p.add_argument("--memory-layer", choices=["2B", "tiny"], default="2B",
                   help="the decoder layer whose bytes per parameter are measured (tiny: for smoke tests)")
    p.add_argument("--no-tiny", action="store_true", help="skip the tiny real-vocabulary checkpoint")
    p.add_argument("--no-fidelity", action="store_true", help="throughput (and memory) only")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-cache", default=None)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/quantization.json)")
    C.add_size_args(p)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import torch

    from qwen3_vl_rag import testing as T
    from qwen3_vl_rag.core.engine.quantization import report

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    checkpoints: list[tuple[str, str, str]] = []
    if args.model:
        checkpoints.append(("--model", args.model, args.reranker_model or args.model))
    else:
        bench = C.bench_model_path(args, "vl", None)
        if not args.no_tiny:
            real = C._real_vocab_available() and not args.tiny_vocab
            tiny = C.bench_model_dir("vl", T.TINY, real, args.model_cache)
            if not (tiny / "config.json").exists():
                T.build_tiny_vl_model(tiny, real_vocab=real)
            checkpoints.append(("tiny" + ("-real-vocab" if real else ""), str(tiny), str(tiny)))
        checkpoints.append(("bench", bench, bench))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fid = [] if args.no_fidelity else [row for label, path, rpath in checkpoints
                                           for row in fidelity(args, path, rpath, label)]
        speed = throughput(args, checkpoints[-1][1])
        mem = [] if args.no_memory else memory(args)
    lower = "" if args.model else " (random weights: a LOWER BOUND on trained weights' fidelity; --model for real)"
    shown = [{k: (f"{v:.5f}" if isinstance(v, float) else v) for k, v in r.items()} for r in fid]
    columns = ["checkpoint", "mode", "kind", "n", "cosine_min", "cosine_mean", "recall@10_agreement",
               "score_delta_max", "score_delta_mean", "skipped"]
    tables = [C.print_table(shown, columns, title="bench_quantization: fidelity to float32" + lower)] if shown else []
    tables.append(C.print_table(speed, ["mode", "input", "items", "tokens", "wall_s", "tokens_per_s", "images_per_s",
                                        "speedup", "cosine_min"],
                                title=f"CPU embedding throughput, {checkpoints[-1][0]} checkpoint, median of "
                                      f"{args.repeats} interleaved runs"))
    if mem:
        tables.append(C.print_table(mem, ["shape", "mode", "layer_bytes_per_param", "quantized_params_M",
                                          "kept_float_params_M", "kept_float_bytes", "weights_GiB", "source"],
                                    title="weights memory of the released shapes (the quantized towers at the measured "
                                          "bytes/parameter; embeddings and what a mode keeps in float)"))
    int8 = next((r for r in speed if r["mode"] == "int8" and r["input"] == "text"), None)
    bench_cos = [r["cosine_min"] for r in fid if r["mode"] == "int8" and r["checkpoint"] == checkpoints[-1][0]
                 and "cosine_min" in r]
    met = None if int8 is None else {
        f"int8_speedup>={TARGET['int8_speedup']}": int8["speedup"] >= TARGET["int8_speedup"],
        f"int8_cosine>={TARGET['int8_cosine']}": bool(bench_cos) and min(bench_cos) >= TARGET["int8_cosine"]}
    data = {"benchmark": "quantization", "machine": C.machine_info("cpu"), "backends": report(),
            "checkpoints": [{"label": lab, "embedder": p, "reranker": r} for lab, p, r in checkpoints],
            "bench_model_size": None if args.model else C.size_from_args(args).as_dict(),
            "random_weights_lower_bound": not args.model, "targets": TARGET, "targets_met": met,
            "fidelity": fid, "throughput": speed, "memory": mem, "table": "\n".join(tables), "args": vars(args)}
    C.write_json(data, args.out, "quantization")
    return data


if __name__ == "__main__":
    main()
