"""How a local model runs: options, runtime resolution, batches, encoders, heads and the Runner."""

from .batches import Encoded, token_budget_batches
from .options import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, RuntimeOptions
from .runner import BatchHook, BatchStats, Runner
from .runtime import Runtime, resolve_runtime

__all__ = [
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_MAX_BATCH_TOKENS",
    "BatchHook",
    "BatchStats",
    "Encoded",
    "Runner",
    "Runtime",
    "RuntimeOptions",
    "resolve_runtime",
    "token_budget_batches",
]
