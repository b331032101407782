"""``qwen3-vl-rag``: the command line. ``qwen3-vl-rag embed INPUT --output OUT`` is the bulk ingestion job.

In process by default (no Ray needed); over Ray Data with ``--gpus N`` (N > 1), ``--workers N`` (N > 1),
``--ray`` (a local Ray cluster) or ``--ray-address ADDR`` (an existing cluster). Both write the same
resumable ``part-NNNNNN.parquet`` shards: rerun the same command to finish an interrupted job.

Every mistake (a switch out of range, a missing input, a wrong model, another job's output directory)
ends in one line on stderr saying what to do and a non-zero exit (2 for a bad switch), with ``OUT`` as
it was: the arguments are checked and the model is loaded before anything is written there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__

DEFAULT_MODEL = "Qwen/Qwen3-VL-Embedding-2B"
USAGE_ERROR = 2  # a switch out of range (argparse's own code for usage errors)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "number"
    return parse


def build_parser() -> argparse.ArgumentParser:
    from .core.precision import PRECISIONS

    parser = _Parser(prog="qwen3-vl-rag", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"qwen3-vl-rag {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    embed = commands.add_parser(
        "embed", help="embed a directory, a glob or a manifest into parquet shards (id, vector, error)",
        description="Embed every item of INPUT (a directory of images / videos / text files, a quoted glob, or "
                    "a .parquet / .jsonl manifest with an 'id' column and 'text', 'text_file', 'image' or "
                    "'video' columns) into OUTPUT/part-NNNNNN.parquet. Bad items become rows with an 'error'. "
                    "Symbolic links are followed, each real folder once; names starting with '.' are left out.")
    embed.add_argument("input", help="directory, quoted glob, or .parquet / .jsonl manifest")
    embed.add_argument("--output", "-o", required=True, help="output directory (resumable: rerun to finish)")
    embed.add_argument("--model", help=f"hub id or local directory of a Qwen3-VL-Embedding or Qwen3-Embedding model "
                                       f"(default {DEFAULT_MODEL})")
    embed.add_argument("--tiny", action="store_true",
                       help="try the command offline on a random tiny model built in a temporary folder (the "
                            "vectors are meaningless: this checks the plumbing)")
    embed.add_argument("--dimensions", type=_count(1), help="Matryoshka size of the vectors (default: the model's)")
    embed.add_argument("--instruction", help="embed with this instruction (default: the document format)")
    embed.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="stored vector precision (default float32); int8 / uint8 need --ranges or --calibration, "
                            "kept in OUTPUT/_job.json to quantize queries the same way; binary / ubinary store "
                            "ceil(d/8) bytes (see docs/precision.md)")
    embed.add_argument("--ranges", metavar="FILE",
                       help="int8 / uint8: per-dimension ranges, a .npy array of shape (2, dimensions) or a .json "
                            "[[starts], [ends]] (or another job's _job.json)")
    embed.add_argument("--calibration", metavar="PATH",
                       help="int8 / uint8: compute the ranges from float vectors of this model at these dimensions: "
                            "a .npy array (vectors x dimensions) or the output directory of a float32 job")
    embed.add_argument("--batch-size", type=_count(1), help="items per model call (default: the embedder's)")
    embed.add_argument("--shard-size", type=_count(1), default=1000, help="items per output file (default 1000)")
    embed.add_argument("--device", help="in process: cpu, cuda, cuda:1, mps (default: the best available)")
    embed.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default=None,
                       help="weights dtype (default: bfloat16 on GPU, float32 on CPU)")
    ray_group = embed.add_argument_group("Ray (pip install \"qwen3-vl-rag[distributed]\")")
    ray_group.add_argument("--gpus", type=_count(0), default=0,
                           help="GPUs to use, one model per GPU; N > 1 runs N Ray actors (default 0: in process, "
                                "on the --device)")
    ray_group.add_argument("--workers", type=_count(1), help="Ray actors (default: --gpus, or 1); N > 1 implies Ray")
    ray_group.add_argument("--ray", action="store_true", help="run on a local Ray cluster even with one worker")
    ray_group.add_argument("--ray-address", help="connect to this Ray cluster (e.g. ray://head:10001 or auto)")
    embed.add_argument("--overwrite", action="store_true",
                       help="replace the shards of a different earlier job (they go once the new job's first "
                            "shard is written; restored if it fails before)")
    embed.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "embed":
        _check_switches(args, parser)
        from .core.distributed.errors import BadArgument, JobError

        try:
            with _model(args) as model:
                return _embed(args, model)
        except BadArgument as exc:
            print(f"qwen3-vl-rag embed: error: {_one_line(exc)}", file=sys.stderr)
            return USAGE_ERROR
        except (ImportError, FileNotFoundError, NotADirectoryError, JobError) as exc:  # the user's to fix
            raise SystemExit(f"qwen3-vl-rag embed: {_one_line(exc)}") from exc
        except ValueError as exc:  # an argument the job refused (e.g. --dimensions above the model's size)
            print(f"qwen3-vl-rag embed: error: {_one_line(exc)}", file=sys.stderr)
            return USAGE_ERROR
    return USAGE_ERROR  # pragma: no cover - argparse enforces the command


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_switches(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Switches that contradict each other: refused before anything is imported or read."""
    if args.tiny and args.model:
        parser.error("--tiny builds its own model: give --tiny or --model, not both")
    if args.ray_address is not None and not args.ray_address.strip():
        parser.error("--ray-address is empty")
    workers = args.workers or max(args.gpus, 1)
    use_ray = bool(args.ray or args.ray_address or workers > 1 or args.gpus > 1)
    if use_ray and args.device:
        parser.error("--device applies in process only; on Ray each actor uses its GPU (--gpus) or the CPU")
    if args.gpus and args.workers and args.workers != args.gpus:
        parser.error(f"--workers {args.workers} with --gpus {args.gpus}: each worker takes one GPU; give one of them")
    if os.path.abspath(args.output) == os.path.abspath(args.input):
        parser.error("--output is the input folder; give another directory")
    args.range_values = _precision_ranges(args, parser)


def _precision_ranges(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
    """The int8 / uint8 ranges from --ranges or --calibration (read now, before any work), else None."""
    given = [name for name, value in (("--ranges", args.ranges), ("--calibration", args.calibration)) if value]
    if args.precision not in ("int8", "uint8"):
        if given:
            parser.error(f"{' and '.join(given)} apply to --precision int8 / uint8 only, not {args.precision}")
        return None
    if len(given) != 1:
        parser.error(f"--precision {args.precision} needs per-dimension ranges: give --ranges FILE or --calibration "
                     "PATH (one of them)" + (", not both" if given else ""))
    from .core.precision import calibration_ranges, load_ranges

    try:
        if args.ranges:
            return load_ranges(args.ranges)
        return calibration_ranges(_calibration_vectors(args.calibration))
    except ValueError as exc:
        parser.error(f"{given[0]}: {_one_line(exc)}")


def _calibration_vectors(path: str) -> Any:
    """Float vectors from a .npy file or a float32 job's output directory."""
    import numpy as np

    if Path(path).is_dir():
        from .core.distributed.shards import read_output

        try:
            column = read_output(path, columns=["vector"]).column("vector")
        except (OSError, ImportError) as exc:
            raise ValueError(str(exc)) from exc
        vectors = [v for v in column.to_pylist() if v is not None]
        array = np.asarray(vectors, dtype=np.float32) if vectors else np.zeros((0, 0), np.float32)
        if str(column.type.value_type) not in ("float", "halffloat", "double"):
            raise ValueError(f"{path!r} holds {column.type.value_type} vectors; calibrate on a float32 job's output")
        return array
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path!r} cannot be read as a .npy array ({_one_line(exc)})") from exc


@contextlib.contextmanager
def _model(args: argparse.Namespace) -> Iterator[str]:
    """The model to use: --model, the default, or with --tiny a random tiny one removed afterwards."""
    if not args.tiny:
        name = args.model or DEFAULT_MODEL
        _offline_without_network(name)
        yield name
        return
    from .testing import build_tiny_vl_model

    print("WARNING: --tiny: a random tiny model; the vectors are meaningless (this only checks the plumbing)",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="qwen3-vl-rag-tiny-") as root:
        yield str(build_tiny_vl_model(Path(root) / "tiny-vl"))


def _offline_without_network(name: str, timeout: float = 2.0) -> None:
    """With a hub id and no route to the hub, use the local cache only (``HF_HUB_OFFLINE=1``, set before
    huggingface_hub is imported), so a missing model fails in a second instead of after retries."""
    looks_local = name.startswith(("/", ".", "~")) or name.count("/") > 1 or Path(name).expanduser().exists()
    if looks_local or os.environ.get("HF_HUB_OFFLINE") or "huggingface_hub" in sys.modules:
        return
    host = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host.split(":")[0], int(host.split(":")[1]) if ":" in host else 443),
                                 timeout=timeout).close()
    except OSError:  # the error, if the model is not cached, says so in its one line
        os.environ["HF_HUB_OFFLINE"] = "1"


def _embed(args: argparse.Namespace, model: str) -> int:
    workers = args.workers or max(args.gpus, 1)
    use_ray = bool(args.ray or args.ray_address or workers > 1 or args.gpus > 1)
    model_kwargs = {}
    if args.dtype and args.dtype != "auto":
        import torch

        model_kwargs["dtype"] = getattr(torch, args.dtype)
    common = dict(model=model, dimensions=args.dimensions, instruction=args.instruction,
                  batch_size=args.batch_size, shard_size=args.shard_size, overwrite=args.overwrite,
                  progress=not args.quiet, precision=args.precision, ranges=args.range_values)
    if use_ray:
        from .core.distributed.ray_job import embed_dataset

        report = embed_dataset(args.input, args.output, num_actors=workers, num_gpus=1 if args.gpus else 0,
                               ray_address=args.ray_address, **common, **model_kwargs)
    else:
        from .core.distributed.local import embed_local

        device = args.device or ("cuda" if args.gpus == 1 else None)
        if device:
            model_kwargs["device"] = device
        report = embed_local(args.input, args.output, **common, **model_kwargs)
    print(json.dumps(report.to_dict(), indent=2))
    if report.skipped_files:
        examples = "; ".join(f"{path}: {why}" for path, why in list(report.skipped_files.items())[:3])
        print(f"{len(report.skipped_files)} path(s) found were not embedded, e.g. {examples}", file=sys.stderr)
    if report.shards_repaired:
        print(f"{len(report.shards_repaired)} unreadable or short shard file(s) were embedded again: "
              f"{report.shards_repaired[:3]}", file=sys.stderr)
    if report.errors:
        print(f"{report.errors} item(s) could not be embedded: see the 'error' column of the output",
              file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
