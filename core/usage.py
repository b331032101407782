"""Usage accounting: what each call cost in requests, items and tokens, and what that costs in money.

Local models count the tokens they run (prompt tokens, of which image and video tokens); remote backends
add up what the server reports. ``UsageMeter`` keeps a thread-safe total and each caller's last call (per
thread and per asyncio task: a context variable, carried back from worker threads by ``to_thread``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, TypeVar

T = TypeVar("T")

# USD per 1M prompt tokens when hosted (the specification's cost table); override per model key.
DEFAULT_PRICES_PER_MILLION: dict[str, float] = {"embedding": 0.03, "rerank": 0.05}


@dataclass
class Usage:
    """Counts of one call, or summed over calls. ``requests``: calls (local) or HTTP requests (remote)."""

    requests: int = 0
    items: int = 0
    prompt_tokens: int = 0
    image_tokens: int = 0
    video_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def add(self, server_usage: Any, items: int = 0) -> list[str]:
        """Add one HTTP answer's ``usage`` (OpenAI style: ``prompt_tokens``, ``total_tokens``).

        A count the server got wrong (negative, fractional, a string, NaN, a bool) is not added: the call's
        results are good, only its accounting is not. Returns the names of the fields ignored so (for the
        caller to log), ``["usage"]`` when ``usage`` is present but not an object. Counts never go negative.
        """
        self.requests += 1
        self.items += items
        if server_usage is None:
            return []
        if not isinstance(server_usage, dict):
            return ["usage"]
        ignored = []
        prompt = _token_count(server_usage.get("prompt_tokens"))
        if prompt is None and server_usage.get("prompt_tokens") is not None:
            ignored.append("prompt_tokens")
        total = _token_count(server_usage.get("total_tokens")) if "total_tokens" in server_usage else prompt
        if total is None and server_usage.get("total_tokens") is not None:
            ignored.append("total_tokens")
        self.prompt_tokens += prompt or 0
        self.total_tokens += total or 0
        return ignored

    def cost(self, price_per_million_tokens: float) -> float:
        """Estimated cost of the prompt tokens at ``price_per_million_tokens``."""
        return self.prompt_tokens * price_per_million_tokens / 1_000_000


_MAX_TOKENS = 2**53  # beyond any real request; a larger "count" is a broken server, not a bill


def _token_count(value: Any) -> int | None:
    """A server-reported token count as an int >= 0 (an integral float is accepted), else None."""
    if type(value) is int:
        return value if 0 <= value < _MAX_TOKENS else None
    if type(value) is float and value.is_integer() and 0 <= value < _MAX_TOKENS:
        return int(value)
    return None


# Each meter's last call in this context: {meter serial: Usage}. One module-level variable (context variables
# are never collected), replaced, not mutated, so a copied context never sees a later change of another.
_LAST: contextvars.ContextVar[Mapping[int, Usage]] = contextvars.ContextVar("qwen3_vl_rag_last_usage",
                                                                         default=MappingProxyType({}))
_SERIALS = itertools.count()


class UsageMeter:
    """A thread-safe running total, and each caller's last call (``last``: per thread and per asyncio task)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()
        self._serial = next(_SERIALS)

    def record(self, usage: Usage) -> None:
        """Add one call's usage to the total; it becomes the caller's ``last`` (even when it ran nothing)."""
        with self._lock:
            self._total = self._total + usage
        _LAST.set({**_LAST.get(), self._serial: usage})

    @property
    def total(self) -> Usage:
        with self._lock:
            return Usage(**vars(self._total))

    @property
    def last(self) -> Usage:
        """The caller's last call (this thread's, or this asyncio task's; empty before the first)."""
        return _LAST.get().get(self._serial, Usage())

    def reset(self) -> Usage:
        """Return the total so far and start from zero."""
        with self._lock:
            total, self._total = self._total, Usage()
        return total


async def to_thread(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``asyncio.to_thread``, and the calls it records become the awaiting task's ``last`` usage.

    The worker thread runs in a copy of the task's context (as with ``asyncio.to_thread``), so what it records
    would otherwise stay in that copy: the async twins of the local models use this.
    """
    context = contextvars.copy_context()
    try:
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(context.run, func, *args, **kwargs))
    finally:
        last = context.get(_LAST)
        if last is not None and last is not _LAST.get():
            _LAST.set(last)


def price_for(model_key: str, kind: str, prices: Mapping[str, float] | None = None) -> float:
    """USD per 1M tokens for a model: ``prices[model_key]``, else ``prices[kind]`` ("embedding" / "rerank")."""
    table = {**DEFAULT_PRICES_PER_MILLION, **(prices or {})}
    return table.get(model_key, table[kind])
