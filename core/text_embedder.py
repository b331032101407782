"""Qwen3TextEmbedder: Qwen3-Embedding-0.6B/4B/8B, the chunking boundary model and text-only fallback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import constants as C
from .concurrency import AsyncEmbedMixin
from .encoding import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, Encoded, collate, run_batched
from .errors import InputError
from .pooling import last_token, truncate_and_normalize
from .runtime import input_device, load_model, resolve_runtime


def query_prompt(task: str, query: str) -> str:
    """The official Qwen3-Embedding query format (no space after ``Query:``)."""
    return f"Instruct: {task}\nQuery:{query}"


class Qwen3TextEmbedder(AsyncEmbedMixin):
    """Text embeddings with the official Qwen3-Embedding recipe: ``<|endoftext|>`` pooled, MRL, unit norm.

    Queries get ``Instruct: {task}\\nQuery:{text}``; documents are embedded raw. The released tokenizer
    appends ``<|endoftext|>`` itself; for one that does not, this class appends it (Qwen3-Embedding #54).
    """

    def __init__(
        self,
        model_name_or_path: str = "Qwen/Qwen3-Embedding-0.6B",
        max_length: int = C.TEXT_EMBED_MAX_LENGTH,
        default_task: str = C.TEXT_EMBED_DEFAULT_TASK,
        *,
        dimensions: int | None = None,
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
        from transformers import AutoModel, AutoTokenizer

        self.model_name = str(model_name_or_path)
        self.max_length = max_length
        self.default_task = default_task
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.show_progress = show_progress
        self.runtime = resolve_runtime(device, dtype if dtype is not None else torch_dtype, attn_implementation,
                                       device_map)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_name)
        self.model = load_model(AutoModel, self.model_name, self.runtime, **model_kwargs)
        self.eos_id = self.tokenizer.convert_tokens_to_ids(C.ENDOFTEXT)
        self._tokenizer_appends_eos = self.tokenizer("a")["input_ids"][-1:] == [self.eos_id]
        self.hidden_size = int(self.model.config.hidden_size)
        if dimensions is not None and not 1 <= dimensions <= self.hidden_size:
            raise ValueError(f"dimensions must be between 1 and {self.hidden_size}, got {dimensions}")
        self.dimensions = dimensions

    @property
    def dimension(self) -> int:
        return self.dimensions or self.hidden_size

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text alone, without special tokens (what chunk-size limits count)."""
        return [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def encode(self, texts: Sequence[str], instruction: str | None = None) -> list[Encoded]:
        """Token ids ending in ``<|endoftext|>``, truncated to ``max_length``."""
        if isinstance(texts, str):
            raise TypeError("pass a list of strings (wrap a single text in a list)")
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(index, f"expected a string, got {type(text).__name__}")
        prompts = [query_prompt(instruction, t) for t in texts] if instruction else list(texts)
        if not prompts:
            return []
        if self._tokenizer_appends_eos:
            ids = self.tokenizer(prompts, truncation=True, max_length=self.max_length)["input_ids"]
            return [Encoded(list(x)) for x in ids]
        ids = self.tokenizer(prompts, add_special_tokens=False, truncation=True,
                             max_length=self.max_length - 1)["input_ids"]
        return [Encoded(list(x) + [self.eos_id]) for x in ids]

    def _forward(self, batch: Sequence[Encoded]) -> np.ndarray:
        import torch

        inputs, lengths = collate(batch, self.tokenizer.pad_token_id or self.eos_id, input_device(self.model))
        with torch.inference_mode():
            hidden = self.model(**inputs, use_cache=False).last_hidden_state
            return last_token(hidden, lengths).float().cpu().numpy()

    def embed(self, texts: Sequence[str], instruction: str | None = None, dimensions: int | None = None,
              show_progress: bool | None = None) -> np.ndarray:
        """Unit vectors (N, D) float32. With ``instruction`` the texts are queries for that task."""
        encoded = self.encode(texts, instruction)
        if not encoded:
            return np.zeros((0, dimensions or self.dimension), dtype=np.float32)
        raw = run_batched(encoded, self._forward, self.max_batch_tokens, self.max_batch_size,
                          self.show_progress if show_progress is None else show_progress, lock=self._model_lock)
        return truncate_and_normalize(raw, dimensions or self.dimensions)

    def embed_queries(self, texts: Sequence[str], instruction: str | None = None,
                      dimensions: int | None = None) -> np.ndarray:
        return self.embed(texts, instruction or self.default_task, dimensions)

    def embed_documents(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        return self.embed(texts, None, dimensions)

    @property
    def identity(self):
        """The vector space this embedder writes into (``core.identity.EmbeddingIdentity``); text only."""
        from .identity import EmbeddingIdentity, model_key

        return EmbeddingIdentity(model_key(self.model_name), self.dimension, frozenset({"text"}), "qwen3-embedding")
