"""Thread safety and async twins for the local models.

Frameworks call embedders from threads and event loops at once (LlamaIndex launches every async batch
together). A lock per model keeps forward passes one at a time; the async twins run the blocking call
in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class ModelLock:
    """Mixin: ``self._model_lock`` serialises model work; created lazily so subclasses need no super()."""

    @property
    def _model_lock(self) -> threading.Lock:
        lock = self.__dict__.get("_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_lock", threading.Lock())
        return lock


class AsyncEmbedMixin(ModelLock):
    """``aembed`` / ``aembed_queries`` / ``aembed_documents`` over the blocking methods."""

    async def aembed(self, *args: Any, **kwargs: Any):
        return await asyncio.to_thread(self.embed, *args, **kwargs)

    async def aembed_queries(self, *args: Any, **kwargs: Any):
        return await asyncio.to_thread(self.embed_queries, *args, **kwargs)

    async def aembed_documents(self, *args: Any, **kwargs: Any):
        return await asyncio.to_thread(self.embed_documents, *args, **kwargs)
