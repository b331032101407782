"""Batch token counters: ``Callable[[list[str]], list[int]]``.

The chunker needs only counts, never token ids, and counts in batches so a fast tokenizer can
parallelise.  Use the *embedding model's* tokenizer so ``max_tokens`` means what the model sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["TokenCounter", "approximate_token_counter", "token_counter_for", "token_counter_from_tokenizer"]

TokenCounter = Callable[[list[str]], Sequence[int]]


def token_counter_from_tokenizer(tokenizer: Any) -> Callable[[list[str]], list[int]]:
    """Build a batch counter from a Hugging Face tokenizer.

    Counts ``len(tokenizer(texts, add_special_tokens=False)["input_ids"][i])``: special tokens
    (BOS/EOS, chat markers) are added once per request by the embedder, not per chunk, so they
    are not part of a chunk's size.  Truncation is disabled so long texts are counted in full.
    """
    if not callable(tokenizer):
        raise TypeError(
            f"tokenizer must be a callable Hugging Face tokenizer, got {type(tokenizer).__name__}"
        )

    def count_tokens(texts: list[str]) -> list[int]:
        if not texts:
            return []
        encoded = tokenizer(
            list(texts),
            add_special_tokens=False,
            truncation=False,
            return_attention_mask=False,
            verbose=False,
        )
        return [len(ids) for ids in encoded["input_ids"]]

    return count_tokens


def token_counter_for(embedder: Any) -> TokenCounter:
    """The counter that matches ``embedder``: its ``tokenizer`` (without special tokens), else its own
    ``count_tokens``; a clear error naming ``count_tokens=`` when it has neither."""
    tokenizer = getattr(embedder, "tokenizer", None)
    if tokenizer is not None:
        return token_counter_from_tokenizer(tokenizer)
    if callable(getattr(embedder, "count_tokens", None)):
        counter: TokenCounter = embedder.count_tokens
        return counter
    raise ValueError(f"cannot count tokens with {type(embedder).__name__} (no tokenizer or count_tokens): "
                     "pass count_tokens=, e.g. token_counter_from_tokenizer(your_tokenizer)")


# One token per CJK character, per run of letters/digits, and per other visible symbol.
_CJK_RANGES = "\u2e80-\u2fdf\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_APPROX_TOKEN = re.compile(f"[{_CJK_RANGES}]|[^\\W_{_CJK_RANGES}]+|[^\\w\\s]|_")


def approximate_token_counter(texts: list[str]) -> list[int]:
    """Tokenizer-free counter: each CJK character, word/number run and symbol is one token.

    Useful for tests and benchmarks; for production use :func:`token_counter_from_tokenizer`.
    """
    return [sum(1 for _ in _APPROX_TOKEN.finditer(text)) for text in texts]
