"""FallbackEmbedder: the first embedder of an ordered list that loads, e.g. local VL → local text → remote.

    embedder = FallbackEmbedder([
        ("local Qwen3-VL-Embedding-8B", lambda: Qwen3VLEmbedder("Qwen/Qwen3-VL-Embedding-8B")),
        ("local Qwen3-Embedding-8B", lambda: Qwen3TextEmbedder("Qwen/Qwen3-Embedding-8B")),
        ("OpenRouter", lambda: RemoteEmbedder("qwen/qwen3-embedding-8b")),
    ])

Candidates are zero-argument factories (optionally with a name), tried in order on first use (or on
``load()``, or on reading ``active``); the first that returns is kept for the object's life. ``active``
names it and ``failures`` lists why each earlier one failed (also logged once, as a warning).

Only a *load failure* moves on to the next candidate: the exception types in ``LOAD_ERRORS`` (missing
files, no network, gated repos: ``OSError``; a missing package: ``ImportError``; out of memory or no
such device: ``RuntimeError`` / ``MemoryError``; a checkpoint of the wrong kind or an unreadable config:
``ValueError``; any of this package's own errors, ``Qwen3RagError``, e.g. a missing API key). Anything
else raised by a factory (``NameError``, ``TypeError``, ``AttributeError``, ``KeyError``, ...) is a bug
in the factory and propagates at once, unchanged. Pass ``catch=`` to choose the types yourself.

The backends write into different vector spaces: store ``identity`` with your vectors and check it
(``core.identity.check_same_space``).
A text-only backend given an image or video raises an ``InputError`` naming the item.
``precision=`` (with ``ranges`` / ``calibration_embeddings``) goes to the backend, which applies it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from .errors import InputError, NoBackendAvailable, Qwen3RagError
from .identity import EmbeddingIdentity, identity_of
from .inputs import ItemInput, parse_items
from .precision import Precision, VectorPrecision
from .usage import to_thread

logger = logging.getLogger(__name__)

Factory = Callable[[], Any]

# What "this backend cannot be loaded here" looks like; everything else is a bug and propagates.
LOAD_ERRORS: tuple[type[BaseException], ...] = (OSError, ImportError, RuntimeError, MemoryError, ValueError,
                                                Qwen3RagError)


def _name_of(factory: Factory, position: int) -> str:
    name = getattr(factory, "__name__", "")
    return name if name and name != "<lambda>" else f"candidate {position}"


class FallbackEmbedder:
    """The embedder interface (``embed``, ``embed_queries``, ``embed_documents``, async twins,
    ``model_name``, ``dimension``, ``identity``) over the first candidate that loads."""

    def __init__(self, candidates: Sequence[Factory | tuple[str, Factory]], *, eager: bool = False,
                 catch: tuple[type[BaseException], ...] = LOAD_ERRORS):
        if not candidates:
            raise ValueError("FallbackEmbedder needs at least one candidate factory")
        self.candidates: list[tuple[str, Factory]] = []
        for position, candidate in enumerate(candidates):
            name, factory = candidate if isinstance(candidate, tuple) else (_name_of(candidate, position), candidate)
            if not callable(factory):
                raise TypeError(f"candidate {name!r} is not callable (pass a factory, e.g. a lambda)")
            self.candidates.append((str(name), factory))
        if not isinstance(catch, tuple) or not all(isinstance(t, type) and issubclass(t, BaseException)
                                                     for t in catch):
            raise TypeError("catch must be a tuple of exception types")
        self.catch = catch
        self.failures: list[tuple[str, str]] = []
        self._active: str | None = None
        self._backend: Any = None
        self._lock = threading.Lock()
        if eager:
            self.load()

    def __repr__(self) -> str:
        names = [name for name, _ in self.candidates]
        return f"{type(self).__name__}(candidates={names}, active={self._active!r})"

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> Any:
        """Load (once) and return the backend in use."""
        with self._lock:
            if self._backend is not None:
                return self._backend
            failures = []
            for name, factory in self.candidates:
                try:
                    backend = factory()
                except self.catch as exc:  # a load failure: try the next one (a bug in the factory propagates)
                    failures.append((name, f"{type(exc).__name__}: {exc}"))
                    continue
                if backend is None:
                    failures.append((name, "the factory returned None"))
                    continue
                self._backend, self._active, self.failures = backend, name, failures
                if failures:
                    logger.warning("embedding backend %r in use; earlier candidates failed: %s", name,
                                   "; ".join(f"{n}: {r}" for n, r in failures))
                else:
                    logger.info("embedding backend %r in use", name)
                return backend
            self.failures = failures
            raise NoBackendAvailable(failures)

    @property
    def loaded(self) -> bool:
        """Whether a backend has been chosen yet (reading this loads nothing)."""
        return self._backend is not None

    @property
    def active(self) -> str:
        """The name of the backend in use; loads the candidates on first read (``NoBackendAvailable`` if none
        loads), so it always answers which backend embeds."""
        self.load()
        return self._active  # type: ignore[return-value]

    @property
    def backend(self) -> Any:
        return self.load()

    @property
    def model_name(self) -> str:
        return cast(str, self.backend.model_name)

    @property
    def dimension(self) -> int:
        return cast(int, self.backend.dimension)

    @property
    def identity(self) -> EmbeddingIdentity:
        return identity_of(self.backend)

    # -- routing ---------------------------------------------------------------------------------
    def _text_only_groups(self, items: Sequence[ItemInput]) -> list[tuple[str | None, list[int], list[str]]]:
        """For a text-only backend: items as plain strings, grouped by their own instruction."""
        groups: dict[str | None, tuple[list[int], list[str]]] = {}
        for index, item in enumerate(parse_items(items)):
            if item.has_media:
                kinds = " and ".join(k for k, v in (("an image", item.images), ("a video", item.videos)) if v)
                failed = ""
                if self.failures:
                    failed = f" (earlier candidates failed: {', '.join(n for n, _ in self.failures)})"
                raise InputError(index, f"item has {kinds}, but the active embedding backend {self._active!r} "
                                        f"({self.backend.model_name}) is text-only{failed}")
            rows, texts = groups.setdefault(item.instruction, ([], []))
            rows.append(index)
            texts.append("".join(item.texts))
        return [(instruction, rows, texts) for instruction, (rows, texts) in groups.items()]

    def _multimodal(self) -> bool:
        backend = self.backend
        modalities = getattr(backend, "modalities", None)  # remote backends: known without a request
        if modalities is None:
            modalities = identity_of(backend).modalities
        return "image" in modalities

    def _run(self, method: str, items: Sequence[ItemInput], instruction: str | None,
             dimensions: int | None, quantization: dict[str, Any]) -> np.ndarray:
        backend = self.backend
        call = getattr(backend, method)
        args = {"instruction": instruction, "dimensions": dimensions, **quantization}
        if self._multimodal():
            return cast(np.ndarray, call(items, **args))
        groups = self._text_only_groups(items)
        if not groups:
            return cast(np.ndarray, call([], **args))
        if len(groups) == 1 and groups[0][0] is None:
            return cast(np.ndarray, call(groups[0][2], **args))
        out: np.ndarray | None = None
        for own, rows, texts in groups:
            vectors = backend.embed(texts, instruction=own, dimensions=dimensions, **quantization) if own else \
                call(texts, **args)
            if out is None:
                out = np.empty((len(items), vectors.shape[1]), dtype=vectors.dtype)
            out[rows] = vectors
        assert out is not None  # groups is not empty
        return out

    async def _arun(self, method: str, items: Sequence[ItemInput], instruction: str | None,
                    dimensions: int | None, quantization: dict[str, Any]) -> np.ndarray:
        backend = await asyncio.to_thread(self.load)
        async_method = getattr(backend, "a" + method, None)
        if async_method is not None and self._multimodal():
            args = {"instruction": instruction, "dimensions": dimensions, **quantization}
            return cast(np.ndarray, await async_method(items, **args))
        # last_usage comes back
        return await to_thread(self._run, method, items, instruction, dimensions, quantization)

    # -- public API ------------------------------------------------------------------------------
    def embed(self, items: Sequence[ItemInput], instruction: str | None = None, dimensions: int | None = None, *,
              precision: Precision = "float32", ranges: Any = None,
              calibration_embeddings: Any = None) -> np.ndarray:
        return self._run("embed", items, instruction, dimensions,
                         _quantization(precision, ranges, calibration_embeddings))

    def embed_queries(self, items: Sequence[ItemInput], instruction: str | None = None,
                      dimensions: int | None = None, *, precision: Precision = "float32", ranges: Any = None,
                      calibration_embeddings: Any = None) -> np.ndarray:
        return self._run("embed_queries", items, instruction, dimensions,
                         _quantization(precision, ranges, calibration_embeddings))

    def embed_documents(self, items: Sequence[ItemInput], *, instruction: str | None = None,
                        dimensions: int | None = None, precision: Precision = "float32", ranges: Any = None,
                        calibration_embeddings: Any = None) -> np.ndarray:
        return self._run("embed_documents", items, instruction, dimensions,
                         _quantization(precision, ranges, calibration_embeddings))

    async def aembed(self, items: Sequence[ItemInput], instruction: str | None = None,
                     dimensions: int | None = None, *, precision: Precision = "float32", ranges: Any = None,
                     calibration_embeddings: Any = None) -> np.ndarray:
        return await self._arun("embed", items, instruction, dimensions,
                                _quantization(precision, ranges, calibration_embeddings))

    async def aembed_queries(self, items: Sequence[ItemInput], instruction: str | None = None,
                             dimensions: int | None = None, *, precision: Precision = "float32", ranges: Any = None,
                             calibration_embeddings: Any = None) -> np.ndarray:
        return await self._arun("embed_queries", items, instruction, dimensions,
                                _quantization(precision, ranges, calibration_embeddings))

    async def aembed_documents(self, items: Sequence[ItemInput], *, instruction: str | None = None,
                               dimensions: int | None = None, precision: Precision = "float32", ranges: Any = None,
                               calibration_embeddings: Any = None) -> np.ndarray:
        return await self._arun("embed_documents", items, instruction, dimensions,
                                _quantization(precision, ranges, calibration_embeddings))


def _quantization(precision: Any, ranges: Any, calibration_embeddings: Any) -> dict[str, Any]:
    """The precision arguments for the backend, checked before a backend loads (its width is checked by the
    backend); none when float32 is asked plainly, so a backend of the older interface still serves float32."""
    resolved = VectorPrecision.resolve(precision, ranges, calibration_embeddings)
    return {} if resolved.name == "float32" else {"precision": resolved}
