"""What the examples share: one set of flags and defaults, fail fast without network, one line per load
failure, loud --tiny runs that leave nothing behind.

Not part of the package: a script helper (``python examples/<name>.py`` puts this folder on ``sys.path``).
Imports only the standard library, so ``--help`` and the offline check run before torch loads.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DATA = Path(__file__).parent / "data"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
QUERIES = ["a mountain at sunrise", "revenue growth by region", "how solar panels make electricity"]


def example_parser(doc: str | None) -> argparse.ArgumentParser:
    """The flags every example takes, with the same defaults."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--query", action="append", help="a text query (repeatable); default: three sample queries")
    parser.add_argument("--top-k", type=int, default=5, help="hits retrieved per query (default: 5)")
    parser.add_argument("--top-n", type=int, default=None, help="hits kept after reranking (default: all retrieved)")
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B",
                        help="embedding model: hub id or directory (default: %(default)s)")
    parser.add_argument("--reranker", default="Qwen/Qwen3-VL-Reranker-2B",
                        help="reranker: hub id or directory (default: %(default)s)")
    parser.add_argument("--chunker-model", default="Qwen/Qwen3-Embedding-0.6B",
                        help="text model that finds chunk boundaries: hub id or directory (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=256, help="largest chunk, in tokens (default: 256)")
    parser.add_argument("--dimensions", type=int, default=None, help="Matryoshka size of the vectors (default: full)")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="folder of .txt and image files (default: examples/data)")
    parser.add_argument("--tiny", action="store_true", help="random tiny models: checks the plumbing only")
    return parser


def parse_args(doc: str | None) -> argparse.Namespace:
    args = example_parser(doc).parse_args()
    args.query = args.query or QUERIES
    if not args.tiny:
        go_offline_without_network([args.model, args.reranker, args.chunker_model])
    return args


def data_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(text files, image files) of ``folder``, sorted."""
    files = sorted(folder.iterdir())
    return ([p for p in files if p.suffix.lower() == ".txt"], [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES])


def _hub_address() -> tuple[str, int]:
    """The hub's host and port (``HF_ENDPOINT`` when set, as huggingface_hub reads it)."""
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)


def looks_local(name: str) -> bool:
    """A directory rather than a hub id (``org/name`` or ``name``)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name or Path(name).expanduser().exists()


def go_offline_without_network(names: list[str], timeout: float = 2.0) -> None:
    """Set ``HF_HUB_OFFLINE=1`` (before transformers is imported) when a hub id is asked for and the hub cannot be
    reached, so a missing model fails at once, in one sentence, instead of after many seconds of retries."""
    if os.environ.get("HF_HUB_OFFLINE") or all(looks_local(n) for n in names):
        return
    try:
        socket.create_connection(_hub_address(), timeout=timeout).close()
    except OSError:  # the cache only: a model that is not there fails at once, in the one line of explain()
        os.environ["HF_HUB_OFFLINE"] = "1"


def _chain(exc: BaseException) -> list[BaseException]:
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def explain(exc: BaseException, what: str, name: str, flag: str) -> str:
    """One line: why ``name`` could not be loaded as the ``what``, and the fix."""
    chain = _chain(exc)
    kinds = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    head = f"Could not load the {what} '{name}'"
    if "GatedRepoError" in kinds or "gated" in text.lower():
        return (f"{head}: the repository is gated; accept its licence on https://huggingface.co/{name} and set "
                "HF_TOKEN (or run `hf auth login`).")
    if isinstance(exc, ValueError) and "checkpoint;" in text:
        return f"{head}: wrong kind of model ({str(exc).split(' (')[0]}); pass the right checkpoint with {flag}."
    if looks_local(name) and not Path(name).expanduser().exists():
        return f"{head}: no such directory; pass {flag} with an existing model directory, or use --tiny."
    if "RepositoryNotFoundError" in kinds or "not a valid model identifier" in text:
        return (f"{head}: not found on the Hugging Face Hub; check the id, pass {flag} with a local directory, "
                "or use --tiny.")
    offline = os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "TRUE", "yes")
    if offline or "LocalEntryNotFoundError" in kinds or "offline" in text.lower():
        return (f"{head}: not in the local Hugging Face cache and downloads are off (no network or HF_HUB_OFFLINE=1); "
                f"download it once with network (`hf download {name}`), pass {flag} with a local directory, or --tiny.")
    if {"ConnectError", "ConnectionError", "ConnectTimeout", "Timeout"} & kinds:
        return f"{head}: cannot reach huggingface.co; connect, set HF_HUB_OFFLINE=1 to use the cache, or use --tiny."
    first_line = (str(exc).splitlines() or [""])[0][:160]
    return f"{head} ({type(exc).__name__}: {first_line}); pass {flag} with a local directory or use --tiny."


def load(what: str, name: str, flag: str, build: Callable[[], Any]) -> Any:
    """``build()``, or exit with one line saying why ``name`` could not be loaded (never a traceback)."""
    try:
        return build()
    except (OSError, ValueError, ImportError) as exc:
        sys.exit(explain(exc, what, name, flag))


@contextlib.contextmanager
def tiny_models(enabled: bool) -> Iterator[tuple[str, str] | None]:
    """With --tiny: (tiny Qwen3-VL dir, tiny Qwen3 text dir) in a temporary folder removed afterwards, and a loud
    warning that the weights are random; else None."""
    if not enabled:
        yield None
        return
    import tempfile

    from qwen3_vl_rag.testing import build_tiny_text_model, build_tiny_vl_model

    print("WARNING: --tiny: random tiny models; the rankings below are meaningless (this only checks the plumbing)",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="qwen3-vl-rag-tiny-") as root:
        yield str(build_tiny_vl_model(Path(root) / "vl")), str(build_tiny_text_model(Path(root) / "text"))


def run_example(run: Callable[[argparse.Namespace], None], doc: str | None) -> None:
    """An example's ``main``: its flags, then ``run(args)``; with --tiny one tiny Qwen3-VL checkpoint embeds and
    reranks and a tiny Qwen3 text model chunks, removed afterwards."""
    args = parse_args(doc)
    with tiny_models(args.tiny) as tiny:
        if tiny is not None:
            args.model = args.reranker = tiny[0]
            args.chunker_model = tiny[1]
        run(args)
