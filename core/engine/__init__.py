"""How a local model runs: options, tuning, runtime resolution, batches, encoders, heads and the Runner
(the opt-in accelerations live in ``engine.accelerations``)."""

from .batches import Encoded, bucket_length, token_budget_batches
from .options import RuntimeOptions
from .runner import BatchHook, BatchStats, Runner
from .runtime import Runtime, resolve_runtime
from .tuning import EngineTuning

__all__ = [
    "BatchHook",
    "BatchStats",
    "Encoded",
    "EngineTuning",
    "Runner",
    "Runtime",
    "RuntimeOptions",
    "bucket_length",
    "resolve_runtime",
    "token_budget_batches",
]
