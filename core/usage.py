"""Usage accounting: what each call cost in requests, items and tokens, and what that costs in money.

Local models count the tokens they run (prompt tokens, of which image and video tokens); remote backends
add up what the server reports. ``UsageMeter`` keeps a thread-safe total and each thread's last call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

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


class UsageMeter:
    """A thread-safe running total, and the last call of each thread (``last``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()
        self._local = threading.local()

    def record(self, usage: Usage) -> None:
        with self._lock:
            self._total = self._total + usage
        self._local.last = usage

    @property
    def total(self) -> Usage:
        with self._lock:
            return Usage(**vars(self._total))

    @property
    def last(self) -> Usage:
        """This thread's last call (empty before the first)."""
        return getattr(self._local, "last", Usage())

    def reset(self) -> Usage:
        """Return the total so far and start from zero."""
        with self._lock:
            total, self._total = self._total, Usage()
        return total


def price_for(model_key: str, kind: str, prices: Mapping[str, float] | None = None) -> float:
    """USD per 1M tokens for a model: ``prices[model_key]``, else ``prices[kind]`` ("embedding" / "rerank")."""
    table = {**DEFAULT_PRICES_PER_MILLION, **(prices or {})}
    return table.get(model_key, table[kind])
