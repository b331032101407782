"""Qwen3Reranker: the text Qwen3-Reranker-0.6B/4B/8B with both official prompt formats as presets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..api import Pair
from ..engine.batches import Encoded
from ..engine.heads import RelevanceHead, yes_no_head
from ..engine.runner import Runner
from ..engine.runtime import hub_kwargs, load_model
from ..engine.text_encoder import TextEncoder
from ..errors import InputError
from ..formats import defaults as D
from ..formats.rerank import TEXT_RERANK_PRESETS
from ..inputs import check_instruction, check_text
from ._local import LocalReranker


class Qwen3Reranker(LocalReranker):
    """Text relevance P(yes) with the Qwen3-Reranker models; ``preset`` picks the prompt format
    (``model-card``, the default, or ``vllm``). Runtime and loading arguments as for ``Qwen3VLEmbedder``."""

    def __init__(
        self,
        model_name_or_path: str = "Qwen/Qwen3-Reranker-0.6B",
        max_length: int = D.TEXT_RERANK_MAX_LENGTH,
        default_instruction: str = D.TEXT_RERANK_DEFAULT_INSTRUCTION,
        preset: str = "model-card",
        **kwargs: Any,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if preset not in TEXT_RERANK_PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(TEXT_RERANK_PRESETS)}")
        model_kwargs = self._resolve(model_name_or_path, kwargs)
        self.preset = TEXT_RERANK_PRESETS[preset]
        self.max_length = max_length
        self.default_instruction = default_instruction
        tokenizer = AutoTokenizer.from_pretrained(self.model_name, **hub_kwargs(model_kwargs))
        self.text_encoder = TextEncoder(tokenizer)
        full = load_model(AutoModelForCausalLM, self.model_name, self.runtime, ("qwen3",),
                          quantization=self.quantization, **model_kwargs)
        self.head = RelevanceHead(yes_no_head(full.lm_head.weight, tokenizer))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.runner = Runner(full.model, self._requested, self.runtime, pad)
        del full
        self._prefix_ids, self._suffix_ids = self.text_encoder.ids([self.preset.prefix, self.preset.suffix])

    @property
    def tokenizer(self) -> Any:
        return self.text_encoder.tokenizer

    def render_prompt(self, query: str, document: str, instruction: str | None = None) -> str:
        return self.preset.render(instruction or self.default_instruction, query, document)

    def encode(self, pairs: Sequence[Pair], instruction: str | None = None) -> list[Encoded]:
        """prefix + body (cut at the end to fit ``max_length``, as the model card does) + suffix."""
        check_instruction(instruction)
        bodies = []
        for index, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
                raise InputError(index, "expected a (query, document) pair of strings")
            check_text(index, pair[0], "the query")
            check_text(index, pair[1], "the document")
            bodies.append(self.preset.body.format(instruction=instruction or self.default_instruction,
                                                  query=pair[0], document=pair[1]))
        budget = self.max_length - len(self._prefix_ids) - len(self._suffix_ids)
        return [Encoded(self._prefix_ids + body[:budget] + self._suffix_ids, index=i)
                for i, body in enumerate(self.text_encoder.ids(bodies, budget))]
