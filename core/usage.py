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

    def add(self, server_usage: Any, items: int = 0) -> None:
        """Add one HTTP answer's ``usage`` (OpenAI style: ``prompt_tokens``, ``total_tokens``)."""
        self.requests += 1
        self.items += items
        if isinstance(server_usage, dict):
            prompt = server_usage.get("prompt_tokens")
            total = server_usage.get("total_tokens", prompt)
            self.prompt_tokens += int(prompt or 0)
            self.total_tokens += int(total or 0)

    def cost(self, price_per_million_tokens: float) -> float:
        """Estimated cost of the prompt tokens at ``price_per_million_tokens``."""
        return self.prompt_tokens * price_per_million_tokens / 1_000_000


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
