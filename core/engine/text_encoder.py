"""Token ids for the text models, truncated here rather than by the tokenizer.

``tokenizer(..., truncation=True, max_length=n)`` stores the truncation setting on the tokenizer's
shared Rust backend; with several threads on one model, one call's setting leaks into another's
tokenization (wrong sequences, wrong counts). The ids are cut in Python instead: the tokenizer is only
ever called with per-call arguments, so concurrent calls cannot disturb each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InputError


def check_texts(texts: Sequence[Any]) -> list[str]:
    """The texts as a list, or an ``InputError`` naming the first item that is not a string."""
    if isinstance(texts, str):
        raise TypeError("pass a list of strings (wrap a single text in a list)")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(index, f"expected a string, got {type(text).__name__}")
    return texts


class TextEncoder:
    """Plain token ids (no special tokens) for texts; thread-safe on a shared tokenizer."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return [list(x) for x in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text alone, without special tokens (what chunk-size limits count)."""
        return [len(ids) for ids in self.ids(texts)]
