"""Qwen3Reranker: the text Qwen3-Reranker-0.6B/4B/8B with both official prompt formats as presets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import constants as C
from .encoding import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, Encoded
from .errors import InputError
from .inputs import check_text
from .local_model import LocalModel
from .runtime import load_model
from .scoring import Pair, PairScorer, relevance, yes_no_head


@dataclass(frozen=True)
class RerankPreset:
    """A prompt format: fixed prefix and suffix around a body with {instruction}, {query}, {document}."""

    prefix: str
    body: str
    suffix: str


_PREFIX = f"<|im_start|>system\n{C.RERANK_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n"
_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"

PRESETS = {
    # The Hugging Face model card (transformers) format: the default.
    "model-card": RerankPreset(_PREFIX, "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}", _SUFFIX),
    # The vLLM evaluation format behind the published MTEB-R numbers (Qwen3-Embedding #71).
    "vllm": RerankPreset(_PREFIX, "<Instruct>: {instruction}\n\n<Query>: {query}\n\n<Document>: {document}", _SUFFIX),
}


class Qwen3Reranker(LocalModel, PairScorer):
    """Text relevance P(yes) with the Qwen3-Reranker models; ``preset`` picks the prompt format."""

    def __init__(
        self,
        model_name_or_path: str = "Qwen/Qwen3-Reranker-0.6B",
        max_length: int = C.TEXT_RERANK_MAX_LENGTH,
        default_instruction: str = C.TEXT_RERANK_DEFAULT_INSTRUCTION,
        preset: str = "model-card",
        *,
        device: str | None = None,
        torch_dtype: Any = None,
        dtype: Any = None,
        attn_implementation: str | None = None,
        device_map: str | dict | None = None,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        show_progress: bool = False,
        **model_kwargs: Any,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        self._configure(model_name_or_path, device=device, dtype=dtype if dtype is not None else torch_dtype,
                        attn_implementation=attn_implementation, device_map=device_map,
                        max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size, show_progress=show_progress)
        self.preset = PRESETS[preset]
        self.max_length = max_length
        self.default_instruction = default_instruction
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_name)
        full = load_model(AutoModelForCausalLM, self.model_name, self.runtime, **model_kwargs)
        self.head = yes_no_head(full.lm_head.weight, self.tokenizer)
        self.model = full.model
        del full
        self._prefix_ids = self._ids([self.preset.prefix])[0]
        self._suffix_ids = self._ids([self.preset.suffix])[0]

    def _ids(self, texts: list[str]) -> list[list[int]]:
        return [list(x) for x in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def render_prompt(self, query: str, document: str, instruction: str | None = None) -> str:
        body = self.preset.body.format(instruction=instruction or self.default_instruction, query=query,
                                       document=document)
        return self.preset.prefix + body + self.preset.suffix

    def encode(self, pairs: Sequence[Pair], instruction: str | None = None) -> list[Encoded]:
        """prefix + body (cut at the end to fit ``max_length``, as the model card does) + suffix."""
        bodies = []
        for index, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
                raise InputError(index, "expected a (query, document) pair of strings")
            check_text(index, pair[0], "the query"), check_text(index, pair[1], "the document")
            bodies.append(self.preset.body.format(instruction=instruction or self.default_instruction,
                                                  query=pair[0], document=pair[1]))
        budget = self.max_length - len(self._prefix_ids) - len(self._suffix_ids)
        ids = self._ids(bodies) if bodies else []
        return [Encoded(self._prefix_ids + body[:budget] + self._suffix_ids) for body in ids]

    def _forward(self, batch: Sequence[Encoded]) -> np.ndarray:
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.inference_mode():
            return relevance(self._last_hidden(batch, pad), self.head)
