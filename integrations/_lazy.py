"""Build a model on first use, once, whatever the number of threads asking for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
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
