"""Qwen3TextEmbedder: Qwen3-Embedding-0.6B/4B/8B, the chunking boundary model and text-only fallback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..engine.batches import Encoded
from ..engine.runner import Runner
from ..engine.runtime import hub_kwargs, load_model
from ..engine.text_encoder import TextEncoder, check_texts
from ..formats import defaults as D
from ..formats.embedding import text_query_prompt
from ..identity import EmbeddingIdentity, model_key
from ..inputs import check_instruction
from ._local import LocalEmbedder


class Qwen3TextEmbedder(LocalEmbedder):
    """Text embeddings with the official Qwen3-Embedding recipe: ``<|endoftext|>`` pooled, MRL, unit norm.

    Queries get ``Instruct: {task}\\nQuery:{text}``; documents are embedded raw. The released tokenizer
    appends ``<|endoftext|>`` itself; this class appends it to the ids whatever the tokenizer does
    (Qwen3-Embedding #54), after cutting the text to ``max_length - 1`` tokens. Runtime and loading
    arguments as for ``Qwen3VLEmbedder``.
    """

    def __init__(
        self,
        model_name_or_path: str = "Qwen/Qwen3-Embedding-0.6B",
        max_length: int = D.TEXT_EMBED_MAX_LENGTH,
        default_task: str = D.TEXT_EMBED_DEFAULT_TASK,
        *,
        dimensions: int | None = None,
        **kwargs: Any,
    ):
        from transformers import AutoModel, AutoTokenizer

        model_kwargs = self._resolve(model_name_or_path, kwargs)
        self.max_length = max_length
        self.query_instruction = default_task  # queries: Instruct: {task}\nQuery:{text}
        tokenizer = AutoTokenizer.from_pretrained(self.model_name, **hub_kwargs(model_kwargs))
        model = load_model(AutoModel, self.model_name, self.runtime, ("qwen3",), quantization=self.quantization,
                           **model_kwargs)
        self.text_encoder = TextEncoder(tokenizer)
        self.eos_id = tokenizer.convert_tokens_to_ids(D.ENDOFTEXT)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.runner = Runner(model, self._requested, self.runtime, pad_id)
        self._set_dimensions(int(model.config.hidden_size), dimensions)

    @property
    def tokenizer(self) -> Any:
        return self.text_encoder.tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text alone, without special tokens (what chunk-size limits count)."""
        return self.text_encoder.count(check_texts(texts))

    def encode(self, texts: Sequence[str], instruction: str | None = None) -> list[Encoded]:
        """Token ids ending in ``<|endoftext|>``, at most ``max_length`` of them."""
        texts = check_texts(texts)
        check_instruction(instruction)
        prompts = [text_query_prompt(instruction, t) for t in texts] if instruction else texts
        limit = self.max_length - 1
        ids = self.text_encoder.ids(prompts, limit)
        return [Encoded(row[:limit] + [self.eos_id], index=i) for i, row in enumerate(ids)]

    @property
    def identity(self) -> EmbeddingIdentity:
        """The vector space this embedder writes into; text only."""
        return EmbeddingIdentity(model_key(self.model_name), self.dimension, frozenset({"text"}), "qwen3-embedding",
                                 self.weights_fingerprint)
