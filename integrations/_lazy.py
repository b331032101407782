"""Build a model on first use, once, whatever the number of threads asking for it (the adapters' one lazy
loader), and the semantic chunkers' default boundary model over it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


class LazyModel:
    """Holds a ready object, or a factory run on the first ``get()`` (double-checked under a lock)."""

    def __init__(self, factory: Callable[[], Any] | None = None, value: Any = None) -> None:
        if (factory is None) == (value is None):
            raise ValueError("pass exactly one of factory and value")
        self._factory = factory
        self._value = value
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> Any:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._factory()
                value = self._value
        return value


class LazyBoundaryEmbedder:
    """The semantic chunkers' default boundary model, a local ``Qwen3TextEmbedder`` built with ``LazyModel``:
    ``embed_documents`` and a batch token counter (``count_tokens``, the model's own unless one is given)."""

    def __init__(self, model_name: str, model_kwargs: dict[str, Any],
                 count_tokens: Callable[[list[str]], Sequence[int]] | None = None) -> None:
        self.model_name = model_name
        self._kwargs, self._count = dict(model_kwargs), count_tokens
        self._model = LazyModel(self._build)

    def _build(self) -> tuple[Any, Callable[[list[str]], Sequence[int]]]:
        from qwen3_vl_rag.core import Qwen3TextEmbedder
        from qwen3_vl_rag.core.chunking import token_counter_for

        from ._shared import core_kwargs

        model = Qwen3TextEmbedder(self.model_name, **core_kwargs(self._kwargs))
        return model, self._count or token_counter_for(model)

    def load(self) -> Any:
        """The model, built now if it is not yet (a missing model fails here)."""
        return self._model.get()[0]

    @property
    def tokenizer(self) -> Any:
        return self.load().tokenizer

    def embed_documents(self, texts: list[str]) -> Any:
        return self.load().embed_documents(texts)

    def count_tokens(self, texts: list[str]) -> Sequence[int]:
        return self._model.get()[1](texts)
