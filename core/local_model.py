"""What every local model shares: its name, where it runs, how it batches, and the embedding API.

``LocalModel`` holds the runtime and batching settings and runs a padded batch to its last-position
hidden states; ``LocalEmbedder`` adds ``embed`` / ``embed_queries`` / ``embed_documents`` (and async
twins) over a subclass's ``encode(items, instruction)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .concurrency import AsyncEmbedMixin, ModelLock
from .encoding import Encoded, collate, run_batched
from .pooling import last_token, truncate_and_normalize
from .runtime import input_device, resolve_runtime


class LocalModel(ModelLock):
    """A transformers model on this machine, run in length-sorted token-budget batches."""

    model: Any

    def _configure(self, model_name_or_path: str, *, device: str | None, dtype: Any, attn_implementation: str | None,
                   device_map: Any, max_batch_tokens: int, max_batch_size: int, show_progress: bool) -> None:
        self.model_name = str(model_name_or_path)
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.show_progress = show_progress
        self.runtime = resolve_runtime(device, dtype, attn_implementation, device_map)

    def _last_hidden(self, batch: Sequence[Encoded], pad_id: int, image_token_id: int | None = None,
                     video_token_id: int | None = None):
        """Hidden state at each sequence's last real position (call under ``torch.inference_mode``)."""
        inputs, lengths = collate(batch, pad_id, input_device(self.model), image_token_id, video_token_id)
        return last_token(self.model(**inputs, use_cache=False).last_hidden_state, lengths)


class LocalEmbedder(LocalModel, AsyncEmbedMixin):
    """Unit vectors, one per item, with Matryoshka ``dimensions``; subclasses define ``encode`` and ``_pool``."""

    hidden_size: int
    dimensions: int | None
    query_instruction: str

    def _set_dimensions(self, hidden_size: int, dimensions: int | None) -> None:
        if dimensions is not None and not 1 <= dimensions <= hidden_size:
            raise ValueError(f"dimensions must be between 1 and {hidden_size}, got {dimensions}")
        self.hidden_size, self.dimensions = hidden_size, dimensions

    @property
    def dimension(self) -> int:
        """Length of the vectors ``embed`` returns by default."""
        return self.dimensions or self.hidden_size

    def encode(self, items: Sequence[Any], instruction: str | None = None) -> list[Encoded]:
        raise NotImplementedError

    def _pool(self, batch: Sequence[Encoded]):
        raise NotImplementedError

    def _forward(self, batch: Sequence[Encoded]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._pool(batch).float().cpu().numpy()

    def embed(self, items: Sequence[Any], instruction: str | None = None, dimensions: int | None = None,
              show_progress: bool | None = None) -> np.ndarray:
        """Unit vectors (N, D) float32 for N items, in input order, or an ``InputError`` naming a bad item."""
        encoded = self.encode(items, instruction)
        if not encoded:
            return np.zeros((0, dimensions or self.dimension), dtype=np.float32)
        raw = run_batched(encoded, self._forward, self.max_batch_tokens, self.max_batch_size,
                          self.show_progress if show_progress is None else show_progress, lock=self._model_lock)
        return truncate_and_normalize(raw, dimensions or self.dimensions)

    def embed_queries(self, items: Sequence[Any], instruction: str | None = None,
                      dimensions: int | None = None) -> np.ndarray:
        """Queries get the retrieval instruction (``query_instruction`` unless one is given)."""
        return self.embed(items, instruction or self.query_instruction, dimensions)

    def embed_documents(self, items: Sequence[Any], dimensions: int | None = None) -> np.ndarray:
        """Documents get the model's document format (the official default)."""
        return self.embed(items, None, dimensions)
