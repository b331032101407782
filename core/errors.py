"""The package's exceptions, under one root, so callers can catch everything from here at once.

Input errors name the offending item (its index in the caller's call) and why.
"""

from __future__ import annotations


class Qwen3RagError(Exception):
    """Root of every exception this package raises on purpose."""


class InputError(Qwen3RagError, ValueError):
    """One input item cannot be used. ``index`` is its position in the call, ``reason`` says why."""

    def __init__(self, index: int, reason: str):
        self.index = index
        self.reason = reason
        super().__init__(f"input item {index}: {reason}")


class MediaError(Qwen3RagError, ValueError):
    """An image or video cannot be loaded; raised without an index and re-raised as InputError."""


class PromptTooLong(Qwen3RagError, ValueError):
    """Special and vision tokens alone exceed the length limit (raised without an index, like MediaError)."""


class EmbeddingSpaceMismatch(Qwen3RagError, ValueError):
    """Vectors (or documents) from two different embedding spaces were about to be mixed."""


class NoBackendAvailable(Qwen3RagError, RuntimeError):
    """No backend of a fallback chain could be loaded; ``failures`` holds (name, reason) per backend."""

    def __init__(self, failures: list[tuple[str, str]]):
        self.failures = failures
        lines = "; ".join(f"{name}: {reason}" for name, reason in failures)
        super().__init__(f"no embedding backend could be loaded ({len(failures)} tried): {lines}")
