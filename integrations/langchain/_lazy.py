"""Kept for imports of the old path: the lazy holder is shared by both adapters (``integrations._lazy``)."""

from .._lazy import LazyModel

__all__ = ["LazyModel"]
