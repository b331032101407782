"""Errors that name the offending input, so a bad item in a batch of thousands is easy to find."""

from __future__ import annotations


class InputError(ValueError):
    """One input item cannot be used. ``index`` is its position in the call, ``reason`` says why."""

    def __init__(self, index: int, reason: str):
        self.index = index
        self.reason = reason
        super().__init__(f"input item {index}: {reason}")


class MediaError(ValueError):
    """An image or video cannot be loaded; raised without an index and re-raised as InputError."""
