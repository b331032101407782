"""How a local model runs: options, runtime resolution, batches, encoders, heads and the Runner."""

from .batches import Encoded, bucket_length, token_budget_batches
from .options import RuntimeOptions
from .runner import BatchHook, BatchStats, Runner
from .runtime import Runtime, resolve_runtime

__all__ = [
    "BatchHook",
    "BatchStats",
    "Encoded",
    "Runner",
    "Runtime",
    "RuntimeOptions",
    "bucket_length",
    "resolve_runtime",
    "token_budget_batches",
]
