"""What the examples share: fail fast without network, one line per load failure, loud --tiny runs.

Not part of the package: a script helper (``python examples/<name>.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HUB_HOST = ("huggingface.co", 443)


def looks_local(name: str) -> bool:
    """A directory rather than a hub id (``org/name`` or ``name``)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name or Path(name).expanduser().exists()


def go_offline_without_network(names: list[str], timeout: float = 2.0) -> None:
    """Set ``HF_HUB_OFFLINE=1`` (before transformers is imported) when a hub id is asked for and the hub cannot be
    reached, so a missing model fails at once instead of after a minute of retries."""
    if os.environ.get("HF_HUB_OFFLINE") or all(looks_local(n) for n in names):
        return
    try:
        socket.create_connection(HUB_HOST, timeout=timeout).close()
    except OSError:
        os.environ["HF_HUB_OFFLINE"] = "1"
        print("note: huggingface.co is unreachable; using the local Hugging Face cache only (HF_HUB_OFFLINE=1)",
              file=sys.stderr)


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
