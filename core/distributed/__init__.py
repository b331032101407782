"""Bulk ingestion: embed millions of items with one batch function, in process or over Ray Data.

- ``EmbedBatch``: the framework-free batch function (ids + text / image / video in; ids, vectors and a
  dead-letter ``error`` column out); usable by any engine that maps batches (Ray Data, Spark, Daft).
- ``embed_local``: a resumable sharded job in this process (no Ray needed).
- ``embed_dataset``: the same job over Ray Data, N actors with GPUs or CPUs (extra ``distributed``).

Needs pyarrow (``pip install "qwen3-vl-rag[distributed]"``). Nothing here imports Ray until a Ray job
starts.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "EmbedBatch": "batch", "ModelSpec": "batch", "IDENTITY_METADATA_KEY": "batch", "identity_from_schema": "batch",
    "PRECISION_METADATA_KEY": "batch",
    "read_inputs": "inputs", "InputTable": "inputs",
    "EmbedReport": "shards", "read_output": "shards", "read_precision": "shards", "shard_path": "shards",
    "JobOutput": "shards",
    "JobError": "errors", "JobMismatch": "errors", "BadArgument": "errors",
    "embed_local": "local",
    "embed_dataset": "ray_job", "start_local_ray": "ray_job",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
