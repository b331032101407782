"""Qwen3TextEmbedder: Qwen3-Embedding-0.6B/4B/8B, the chunking boundary model and text-only fallback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import constants as C
from .encoding import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, Encoded
from .errors import InputError
from .inputs import check_text
from .local_model import LocalEmbedder
from .runtime import load_model


def query_prompt(task: str, query: str) -> str:
    """The official Qwen3-Embedding query format (no space after ``Query:``)."""
    return f"Instruct: {task}\nQuery:{query}"


class Qwen3TextEmbedder(LocalEmbedder):
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

        self._configure(model_name_or_path, device=device, dtype=dtype if dtype is not None else torch_dtype,
                        attn_implementation=attn_implementation, device_map=device_map,
                        max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size, show_progress=show_progress)
        self.max_length = max_length
        self.query_instruction = default_task  # queries: Instruct: {task}\nQuery:{text}
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_name)
        self.model = load_model(AutoModel, self.model_name, self.runtime, **model_kwargs)
        self.eos_id = self.tokenizer.convert_tokens_to_ids(C.ENDOFTEXT)
        self._tokenizer_appends_eos = self.tokenizer("a")["input_ids"][-1:] == [self.eos_id]
        self._set_dimensions(int(self.model.config.hidden_size), dimensions)

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
            check_text(index, text)
        prompts = [query_prompt(instruction, t) for t in texts] if instruction else list(texts)
        if not prompts:
            return []
        if self._tokenizer_appends_eos:
            ids = self.tokenizer(prompts, truncation=True, max_length=self.max_length)["input_ids"]
            return [Encoded(list(x)) for x in ids]
        ids = self.tokenizer(prompts, add_special_tokens=False, truncation=True,
                             max_length=self.max_length - 1)["input_ids"]
        return [Encoded(list(x) + [self.eos_id]) for x in ids]

    def _pool(self, batch: Sequence[Encoded]):
        return self._last_hidden(batch, self.tokenizer.pad_token_id or self.eos_id)

    @property
    def identity(self):
        """The vector space this embedder writes into (``core.identity.EmbeddingIdentity``); text only."""
        from .identity import EmbeddingIdentity, model_key

        return EmbeddingIdentity(model_key(self.model_name), self.dimension, frozenset({"text"}), "qwen3-embedding")
