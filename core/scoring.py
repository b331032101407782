"""The yes/no relevance head: one row, ``W_yes - W_no``, instead of logits over the whole vocabulary.

sigmoid((W_yes - W_no) . h) equals softmax([logit_no, logit_yes])[yes], the official score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from .concurrency import ModelLock


def single_token_id(tokenizer, text: str) -> int:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"{text!r} must be one token in this vocabulary, got {ids}")
    return ids[0]


def yes_no_head(lm_head_weight, tokenizer):
    """The difference row of the language-model head, kept in float32."""
    yes, no = single_token_id(tokenizer, "yes"), single_token_id(tokenizer, "no")
    return (lm_head_weight[yes].float() - lm_head_weight[no].float()).detach().clone()


def relevance(hidden_last, head) -> np.ndarray:
    """P(yes) for each row of pooled hidden states (float32, in [0, 1])."""
    import torch

    logits = hidden_last.float() @ head.to(hidden_last.device)
    return torch.sigmoid(logits).cpu().numpy().astype(np.float32)


Pair = tuple  # (query, document): items as the embedder accepts them, or strings for text rerankers


def ranked(scores: np.ndarray, top_n: int | None) -> list[tuple[int, float]]:
    """(index, score) sorted by descending score (stable for ties), as plain Python floats."""
    if top_n is not None and top_n < 0:
        raise ValueError(f"top_n must be >= 0, got {top_n}")
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    return [(i, float(scores[i])) for i in order[:top_n]]


class PairScorer(ModelLock):
    """``score_pairs`` / ``score`` / ``rerank`` (and async twins) over a subclass's
    ``encode(pairs, instruction)`` and ``_forward(batch)``, with length-sorted token-budget batching."""

    max_batch_tokens: int
    max_batch_size: int
    show_progress: bool

    def encode(self, pairs: Sequence[Pair], instruction: str | None = None) -> list:
        raise NotImplementedError

    def _forward(self, batch: Sequence) -> np.ndarray:
        raise NotImplementedError

    def score_pairs(self, pairs: Sequence[Pair], instruction: str | None = None,
                    show_progress: bool | None = None) -> np.ndarray:
        """P(yes) for many (query, document) pairs at once: float32 (N,), in input order."""
        return self._score_encoded(self.encode(pairs, instruction), show_progress)

    def _score_encoded(self, encoded: Sequence, show_progress: bool | None = None) -> np.ndarray:
        from .encoding import run_batched

        if not encoded:
            return np.zeros(0, dtype=np.float32)
        return run_batched(encoded, self._forward, self.max_batch_tokens, self.max_batch_size,
                           self.show_progress if show_progress is None else show_progress, desc="Reranking",
                           lock=self._model_lock)

    def score(self, query: Any, documents: Sequence[Any], instruction: str | None = None) -> np.ndarray:
        """P(yes) of each document for one query: float32 (N,), in document order."""
        if isinstance(documents, (str, dict)):
            raise TypeError("pass a list of documents (wrap a single document in a list)")
        return self.score_pairs([(query, d) for d in documents], instruction)

    def rerank(self, query: Any, documents: Sequence[Any], top_n: int | None = None,
               instruction: str | None = None) -> list[tuple[int, float]]:
        """(document index, score) pairs, best first; ``top_n`` keeps the best n."""
        return ranked(self.score(query, documents, instruction), top_n)

    async def ascore_pairs(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return await asyncio.to_thread(self.score_pairs, *args, **kwargs)

    async def ascore(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return await asyncio.to_thread(self.score, *args, **kwargs)

    async def arerank(self, *args: Any, **kwargs: Any) -> list[tuple[int, float]]:
        return await asyncio.to_thread(self.rerank, *args, **kwargs)
