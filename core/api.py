"""The user API, written once: embedding (``embed`` / ``embed_queries`` / ``embed_documents``) and scoring
(``score_pairs`` / ``score`` / ``rerank``), each with an async twin.

Local and remote backends implement ``embed`` (and ``score_pairs`` for rerankers; remote ones also
their async twins, which do real async I/O); everything else comes from here, so every backend behaves
the same in every adapter. A local async twin is its sync method in a worker thread, derived by one
helper (``in_thread``). One argument order: ``(items, instruction, dimensions)``; ``embed_documents``
takes both by keyword only (documents rarely need an instruction). Every embed call also takes, by keyword,
``precision`` (``core.precision``: float32 by default, float16, int8, uint8, binary, ubinary) and, for int8 /
uint8, ``ranges`` or ``calibration_embeddings``; the backend applies it after Matryoshka truncation.
``FallbackEmbedder`` delegates each of these methods to its active backend.
``Embedder`` and ``Reranker`` are the Protocols the adapters type against.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from .identity import EmbeddingIdentity
from .precision import Precision
from .usage import to_thread

Pair = tuple[Any, Any]  # (query, document): items as the embedder accepts them, or strings for text rerankers


def as_list(values: Iterable[Any], what: str) -> list[Any]:
    """Materialise any iterable once (a generator must not be read twice); refuse a bare string or dict."""
    if isinstance(values, (str, bytes, dict)):
        raise TypeError(f"pass a list of {what} (wrap a single one in a list)")
    return list(values)


def ranked(scores: np.ndarray, top_n: int | None) -> list[tuple[int, float]]:
    """(index, score) sorted by descending score (stable for ties), as plain Python floats."""
    if top_n is not None and top_n < 0:
        raise ValueError(f"top_n must be >= 0, got {top_n}")
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    return [(i, float(scores[i])) for i in order[:top_n]]


R = TypeVar("R")


def in_thread(method: Callable[..., R]) -> Callable[..., Awaitable[R]]:
    """The async twin of a blocking method: the same call (the subclass's override, looked up by name) in a
    worker thread (``usage.to_thread``: its usage becomes the task's ``last``), so model work never blocks the
    event loop. Iterables are read here, once, not in the thread."""

    what = list(inspect.signature(method).parameters)[1]  # "items" or "pairs", for the error message

    @functools.wraps(method)
    async def twin(self: Any, values: Iterable[Any], *args: Any, **kwargs: Any) -> R:
        return await to_thread(getattr(self, method.__name__), as_list(values, what), *args, **kwargs)

    twin.__name__ = twin.__qualname__ = "a" + method.__name__
    twin.__doc__ = f"Async ``{method.__name__}`` (a worker thread)."
    return twin


@runtime_checkable
class Embedder(Protocol):
    """What adapters need from an embedder (local, remote or fallback)."""

    model_name: str

    @property
    def dimension(self) -> int: ...

    @property
    def identity(self) -> EmbeddingIdentity: ...

    def embed(self, items: Sequence[Any], instruction: str | None = None, dimensions: int | None = None, *,
              precision: Precision = "float32", ranges: Any = None,
              calibration_embeddings: Any = None) -> np.ndarray: ...

    def embed_queries(self, items: Sequence[Any], instruction: str | None = None, dimensions: int | None = None, *,
                      precision: Precision = "float32", ranges: Any = None,
                      calibration_embeddings: Any = None) -> np.ndarray: ...

    def embed_documents(self, items: Sequence[Any], *, instruction: str | None = None,
                        dimensions: int | None = None, precision: Precision = "float32", ranges: Any = None,
                        calibration_embeddings: Any = None) -> np.ndarray: ...

    async def aembed(self, items: Sequence[Any], instruction: str | None = None, dimensions: int | None = None, *,
                     precision: Precision = "float32", ranges: Any = None,
                     calibration_embeddings: Any = None) -> np.ndarray: ...

    async def aembed_queries(self, items: Sequence[Any], instruction: str | None = None,
                             dimensions: int | None = None, *, precision: Precision = "float32", ranges: Any = None,
                             calibration_embeddings: Any = None) -> np.ndarray: ...

    async def aembed_documents(self, items: Sequence[Any], *, instruction: str | None = None,
                               dimensions: int | None = None, precision: Precision = "float32", ranges: Any = None,
                               calibration_embeddings: Any = None) -> np.ndarray: ...


@runtime_checkable
class Reranker(Protocol):
    """What adapters need from a reranker (local or remote)."""

    model_name: str

    def score_pairs(self, pairs: Iterable[Pair], instruction: str | None = None) -> np.ndarray: ...

    def score(self, query: Any, documents: Iterable[Any], instruction: str | None = None) -> np.ndarray: ...

    def rerank(self, query: Any, documents: Iterable[Any], top_n: int | None = None,
               instruction: str | None = None) -> list[tuple[int, float]]: ...

    async def ascore_pairs(self, pairs: Iterable[Pair], instruction: str | None = None) -> np.ndarray: ...

    async def ascore(self, query: Any, documents: Iterable[Any], instruction: str | None = None) -> np.ndarray: ...

    async def arerank(self, query: Any, documents: Iterable[Any], top_n: int | None = None,
                      instruction: str | None = None) -> list[tuple[int, float]]: ...


class EmbeddingAPI:
    """Queries and documents over a subclass's ``embed`` (and ``aembed``, which defaults to a thread).

    Queries get the retrieval instruction (``query_instruction`` unless one is given); documents get the
    model's document format (the official default) unless ``instruction=`` says otherwise.
    """

    query_instruction: str | None = None

    def embed(self, items: Sequence[Any], instruction: str | None = None, dimensions: int | None = None, *,
              precision: Precision = "float32", ranges: Any = None,
              calibration_embeddings: Any = None) -> np.ndarray:
        raise NotImplementedError

    def embed_queries(self, items: Sequence[Any], instruction: str | None = None, dimensions: int | None = None, *,
                      precision: Precision = "float32", ranges: Any = None,
                      calibration_embeddings: Any = None) -> np.ndarray:
        return self.embed(items, instruction or self.query_instruction, dimensions, precision=precision,
                          ranges=ranges, calibration_embeddings=calibration_embeddings)

    def embed_documents(self, items: Sequence[Any], *, instruction: str | None = None,
                        dimensions: int | None = None, precision: Precision = "float32", ranges: Any = None,
                        calibration_embeddings: Any = None) -> np.ndarray:
        return self.embed(items, instruction, dimensions, precision=precision, ranges=ranges,
                          calibration_embeddings=calibration_embeddings)

    aembed = in_thread(embed)

    async def aembed_queries(self, items: Sequence[Any], instruction: str | None = None,
                             dimensions: int | None = None, *, precision: Precision = "float32", ranges: Any = None,
                             calibration_embeddings: Any = None) -> np.ndarray:
        return await self.aembed(items, instruction or self.query_instruction, dimensions, precision=precision,
                                 ranges=ranges, calibration_embeddings=calibration_embeddings)

    async def aembed_documents(self, items: Sequence[Any], *, instruction: str | None = None,
                               dimensions: int | None = None, precision: Precision = "float32", ranges: Any = None,
                               calibration_embeddings: Any = None) -> np.ndarray:
        return await self.aembed(items, instruction, dimensions, precision=precision, ranges=ranges,
                                 calibration_embeddings=calibration_embeddings)


class ScoringAPI:
    """``score`` / ``rerank`` over a subclass's ``score_pairs`` (and ``ascore_pairs``, a thread by default).

    Every method accepts any iterable (a generator is read once) and returns float32 P(yes) in input order.
    """

    def score_pairs(self, pairs: Iterable[Pair], instruction: str | None = None) -> np.ndarray:
        raise NotImplementedError

    def score(self, query: Any, documents: Iterable[Any], instruction: str | None = None) -> np.ndarray:
        """P(yes) of each document for one query: float32 (N,), in document order."""
        return self.score_pairs([(query, d) for d in as_list(documents, "documents")], instruction)

    def rerank(self, query: Any, documents: Iterable[Any], top_n: int | None = None,
               instruction: str | None = None) -> list[tuple[int, float]]:
        """(document index, score) pairs, best first; ``top_n`` keeps the best n."""
        return ranked(self.score(query, documents, instruction), top_n)

    ascore_pairs = in_thread(score_pairs)

    async def ascore(self, query: Any, documents: Iterable[Any], instruction: str | None = None) -> np.ndarray:
        return await self.ascore_pairs([(query, d) for d in as_list(documents, "documents")], instruction)

    async def arerank(self, query: Any, documents: Iterable[Any], top_n: int | None = None,
                      instruction: str | None = None) -> list[tuple[int, float]]:
        return ranked(await self.ascore(query, documents, instruction), top_n)
