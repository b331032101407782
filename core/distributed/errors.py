"""The bulk job's own errors: what the user fixes (arguments, input, model name, output directory)."""

from __future__ import annotations

from ..errors import Qwen3RagError


class JobError(Qwen3RagError, ValueError):
    """A bulk job cannot start as asked: its message says what to change. Nothing was written."""


class JobMismatch(JobError):
    """An output directory holds shards of a different job (other model, input or shard size)."""


class BadArgument(JobError):
    """An argument is out of range for this job's model (e.g. ``dimensions`` above the model's size)."""
