"""``qwen3-vl-rag``: the command line. ``qwen3-vl-rag embed INPUT --output OUT`` is the bulk ingestion job.

In process by default (no Ray needed); over Ray Data with ``--gpus N`` (N > 1), ``--workers N`` (N > 1),
``--ray`` (a local Ray cluster) or ``--ray-address ADDR`` (an existing cluster). Both write the same
resumable ``part-NNNNNN.parquet`` shards: rerun the same command to finish an interrupted job.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

DEFAULT_MODEL = "Qwen/Qwen3-VL-Embedding-2B"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qwen3-vl-rag", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    embed = commands.add_parser(
        "embed", help="embed a directory, a glob or a manifest into parquet shards (id, vector, error)",
        description="Embed every item of INPUT (a directory of images / videos / text files, a quoted glob, or "
                    "a .parquet / .jsonl manifest with an 'id' column and 'text', 'text_file', 'image' or "
                    "'video' columns) into OUTPUT/part-NNNNNN.parquet. Bad items become rows with an 'error'.")
    embed.add_argument("input", help="directory, quoted glob, or .parquet / .jsonl manifest")
    embed.add_argument("--output", "-o", required=True, help="output directory (resumable: rerun to finish)")
    embed.add_argument("--model", default=DEFAULT_MODEL,
                       help=f"hub id or local directory of a Qwen3-VL-Embedding or Qwen3-Embedding model "
                            f"(default {DEFAULT_MODEL})")
    embed.add_argument("--dimensions", type=int, help="Matryoshka size of the vectors (default: the model's)")
    embed.add_argument("--instruction", help="embed with this instruction (default: the document format)")
    embed.add_argument("--batch-size", type=int, help="items per model call (default: the embedder's)")
    embed.add_argument("--shard-size", type=int, default=1000, help="items per output file (default 1000)")
    embed.add_argument("--device", help="in process: cpu, cuda, cuda:1, mps (default: the best available)")
    embed.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default=None,
                       help="weights dtype (default: bfloat16 on GPU, float32 on CPU)")
    ray_group = embed.add_argument_group("Ray (pip install \"qwen3-vl-rag[distributed]\")")
    ray_group.add_argument("--gpus", type=int, default=0,
                           help="GPUs to use, one model per GPU; N > 1 runs N Ray actors (default 0: in process, "
                                "on the --device)")
    ray_group.add_argument("--workers", type=int, help="Ray actors (default: --gpus, or 1); N > 1 implies Ray")
    ray_group.add_argument("--ray", action="store_true", help="run on a local Ray cluster even with one worker")
    ray_group.add_argument("--ray-address", help="connect to this Ray cluster (e.g. ray://head:10001 or auto)")
    embed.add_argument("--overwrite", action="store_true", help="discard shards of a different earlier job")
    embed.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "embed":
        from .core.distributed.shards import JobMismatch

        try:
            return _embed(args)
        except (ImportError, FileNotFoundError, JobMismatch) as exc:  # the user's to fix: say it, no traceback
            raise SystemExit(f"qwen3-vl-rag embed: {exc}") from exc
    return 2  # pragma: no cover - argparse enforces the command


def _embed(args: argparse.Namespace) -> int:
    if args.gpus < 0 or (args.workers is not None and args.workers < 1):
        raise SystemExit("--gpus must be >= 0 and --workers >= 1")
    workers = args.workers or max(args.gpus, 1)
    use_ray = bool(args.ray or args.ray_address or workers > 1 or args.gpus > 1)
    model_kwargs = {}
    if args.dtype and args.dtype != "auto":
        import torch

        model_kwargs["dtype"] = getattr(torch, args.dtype)
    common = dict(model=args.model, dimensions=args.dimensions, instruction=args.instruction,
                  batch_size=args.batch_size, shard_size=args.shard_size, overwrite=args.overwrite,
                  progress=not args.quiet)
    if use_ray:
        if args.device:
            raise SystemExit("--device applies in process only; on Ray each actor uses its GPU (--gpus) or the CPU")
        from .core.distributed.ray_job import embed_dataset

        gpus_per_worker = 1 if args.gpus else 0
        if args.gpus and workers != args.gpus:
            raise SystemExit(f"--workers {workers} with --gpus {args.gpus}: each worker takes one GPU; "
                             "give one of them")
        report = embed_dataset(args.input, args.output, num_actors=workers, num_gpus=gpus_per_worker,
                               ray_address=args.ray_address, **common, **model_kwargs)
    else:
        from .core.distributed.local import embed_local

        device = args.device or ("cuda" if args.gpus == 1 else None)
        if device:
            model_kwargs["device"] = device
        report = embed_local(args.input, args.output, **common, **model_kwargs)
    print(json.dumps(report.to_dict(), indent=2))
    if report.skipped_files:
        print(f"{len(report.skipped_files)} file(s) of unknown type were not embedded, e.g. "
              f"{report.skipped_files[:3]}", file=sys.stderr)
    if report.errors:
        print(f"{report.errors} item(s) could not be embedded: see the 'error' column of the output",
              file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
