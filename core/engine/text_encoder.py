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
from ..inputs import MAX_CHARS_PER_TOKEN, SAFE_CHARS_PER_TOKEN, cap_characters, check_text


def check_texts(texts: Sequence[Any]) -> list[str]:
    """The texts as a list, or an ``InputError`` naming the first item that is not a string (or not
    encodable text, such as a lone surrogate)."""
    if isinstance(texts, str):
        raise TypeError("pass a list of strings (wrap a single text in a list)")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(index, f"expected a string, got {type(text).__name__}")
        check_text(index, text)
    return texts


class TextEncoder:
    """Plain token ids (no special tokens) for texts; thread-safe on a shared tokenizer."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return [list(x) for x in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def ids(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """Token ids of each text; with ``max_tokens``, at least the first ``max_tokens`` of them, without
        tokenizing more of a huge text than that needs (``inputs.cap_characters``)."""
        if max_tokens is None:
            return self._tokenize(texts)
        out = self._tokenize([cap_characters(t, max_tokens) for t in texts])
        for chars_per_token in (MAX_CHARS_PER_TOKEN, None):  # a cut text that came out short: cut later
            short = [i for i, ids in enumerate(out) if len(ids) <= max_tokens and
                     len(texts[i]) > (max_tokens + 1) * SAFE_CHARS_PER_TOKEN]
            if not short:
                break
            again = [texts[i] if chars_per_token is None else cap_characters(texts[i], max_tokens, chars_per_token)
                     for i in short]
            for i, ids in zip(short, self._tokenize(again)):
                out[i] = ids
        return out

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text alone, without special tokens (what chunk-size limits count)."""
        return [len(ids) for ids in self.ids(texts)]
