"""``SemanticChunker``: split text where the meaning shifts, with an exact token bound per chunk.

Pipeline (every step linear in the text, except boundary queries at ``O(log n)`` each):

1. split into sentences with exact offsets (:mod:`.sentences`);
2. count each sentence's tokens once, in batches; token-split any sentence over ``max_tokens``
   (:mod:`.token_split`);
3. embed a sliding window of ``buffer_size`` sentences on each side of every sentence, in
   batches of ``batch_size`` windows, streaming cosine distances between neighbours;
4. cut at breakpoints (:mod:`.breakpoints`), split groups over ``max_tokens`` at their
   strongest boundary, merge groups under ``min_tokens`` into the more similar neighbour, then
   count every final chunk's real text and re-split any overflow (:mod:`.sizing`).

Chunks are exact source slices: ``source[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .breakpoints import find_breakpoints, validate_breakpoint
from .sentences import split_sentences
from .sizing import BoundaryPicker, enforce_max_tokens, merge_small_pieces, split_oversize_piece
from .token_split import split_long_span

__all__ = ["Chunk", "DocumentEmbedder", "SemanticChunker"]

_COUNT_BATCH = 1024  # texts per token-counter call
_DEFAULT_MIN_TOKENS = 32


@runtime_checkable
class DocumentEmbedder(Protocol):
    """Anything with ``embed_documents(texts) -> (N, D)`` array-like (LangChain embeddings qualify)."""

    def embed_documents(self, texts: list[str]) -> Any: ...


@dataclass(frozen=True, slots=True)
class Chunk:
    """A chunk of the source: ``source[start:end] == text``; ``token_count`` is its real count."""

    text: str
    start: int
    end: int
    token_count: int


@dataclass(slots=True)
class _Units:
    """Sentences (or token-split pieces of long ones) of one document, in source order."""

    starts: list[int]
    ends: list[int]
    counts: list[int]


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


class SemanticChunker:
    """Split text into semantically coherent chunks of at most ``max_tokens`` tokens.

    Args:
        embedder: object with ``embed_documents(texts: list[str])`` returning an ``(N, D)``
            array-like; rows are L2-normalised here, so any scale is fine.
        count_tokens: batch counter ``list[str] -> list[int]``, ideally the embedding model's
            tokenizer (see :func:`token_counter_from_tokenizer`).
        max_tokens: hard upper bound on every chunk's token count (checked on the final text).
        min_tokens: chunks smaller than this are merged into a neighbour when the merge fits.
            ``None`` means ``min(32, max_tokens // 4)``.  Must be ``< max_tokens``.
        buffer_size: sentences on each side included in each sentence's embedding window.
        breakpoint_type: ``percentile``, ``standard_deviation``, ``interquartile``, ``gradient``
            or ``absolute`` (see :mod:`.breakpoints`).
        breakpoint_amount: the method's parameter; ``None`` uses the method's default.
        batch_size: windows per ``embed_documents`` call.
        split_on_semicolon: also end sentences at the full-width semicolon ``；``.

    ``split`` raises ``ValueError`` if the embedder returns the wrong number of rows, the counter
    the wrong number of counts, or a single character alone counts more than ``max_tokens``
    (no split can then satisfy the bound).  Output is deterministic for a deterministic embedder.
    """

    def __init__(
        self,
        embedder: DocumentEmbedder,
        count_tokens: Callable[[list[str]], Sequence[int]],
        *,
        max_tokens: int = 512,
        min_tokens: int | None = None,
        buffer_size: int = 1,
        breakpoint_type: str = "percentile",
        breakpoint_amount: float | None = None,
        batch_size: int = 64,
        split_on_semicolon: bool = False,
    ) -> None:
        if not callable(getattr(embedder, "embed_documents", None)):
            raise TypeError(
                f"embedder must have an embed_documents(texts) method, got {type(embedder).__name__}"
            )
        if not callable(count_tokens):
            raise TypeError(f"count_tokens must be callable, got {type(count_tokens).__name__}")
        self.max_tokens = _check_int("max_tokens", max_tokens, 1)
        if min_tokens is None:
            self.min_tokens = min(_DEFAULT_MIN_TOKENS, self.max_tokens // 4)
        else:
            self.min_tokens = _check_int("min_tokens", min_tokens, 0)
            if self.min_tokens >= self.max_tokens:
                raise ValueError(
                    f"min_tokens must be smaller than max_tokens, got min_tokens={self.min_tokens} "
                    f"and max_tokens={self.max_tokens}"
                )
        self.buffer_size = _check_int("buffer_size", buffer_size, 0)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.breakpoint_amount = validate_breakpoint(breakpoint_type, breakpoint_amount)
        self.breakpoint_type = breakpoint_type
        self.split_on_semicolon = bool(split_on_semicolon)
        self.embedder = embedder
        self.count_tokens = count_tokens

    # ------------------------------------------------------------------ public API

    def split(self, text: str) -> list[Chunk]:
        """Chunk one text; empty or whitespace-only text gives ``[]``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return self.split_many([text])[0]

    def split_many(self, texts: Iterable[str]) -> list[list[Chunk]]:
        """Chunk several texts, sharing embedding batches across them; one list per text."""
        if isinstance(texts, str):
            raise TypeError("split_many expects a sequence of texts, not a single str; use split()")
        docs = list(texts)
        for i, text in enumerate(docs):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
        units = [self._units(text) for text in docs]
        distances = self._distances(docs, units)
        return [self._assemble(text, u, d) for text, u, d in zip(docs, units, distances)]

    # ------------------------------------------------------------------ steps

    def _count(self, texts: list[str]) -> list[int]:
        """Count tokens in batches of ``_COUNT_BATCH``; validate what the counter returns."""
        counts: list[int] = []
        for lo in range(0, len(texts), _COUNT_BATCH):
            batch = texts[lo : lo + _COUNT_BATCH]
            got = list(self.count_tokens(batch))
            if len(got) != len(batch):
                raise ValueError(f"count_tokens returned {len(got)} counts for {len(batch)} texts")
            for c in got:
                if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0:
                    raise ValueError(f"count_tokens must return non-negative ints, got {c!r}")
            counts.extend(int(c) for c in got)
        return counts

    def _units(self, text: str) -> _Units:
        """Sentence spans and their counts; sentences over ``max_tokens`` become several units."""
        spans = split_sentences(text, split_on_semicolon=self.split_on_semicolon)
        counts = self._count([text[s:e] for s, e in spans])
        units = _Units([], [], [])
        for (start, end), count in zip(spans, counts):
            if count <= self.max_tokens:
                units.starts.append(start)
                units.ends.append(end)
                units.counts.append(count)
                continue
            for s, e, c in split_long_span(text, start, end, self._count_one, self.max_tokens):
                units.starts.append(s)
                units.ends.append(e)
                units.counts.append(c)
        return units

    def _count_one(self, text: str) -> int:
        return self._count([text])[0]

    def _windows(self, docs: list[str], units: list[_Units]) -> Iterator[tuple[int, int, str]]:
        """Yield ``(doc, unit, window)``: the source slice from ``buffer_size`` units before to after."""
        b = self.buffer_size
        for doc, (text, u) in enumerate(zip(docs, units)):
            n = len(u.starts)
            if n < 2:
                continue  # nothing to compare: no embedding needed
            for i in range(n):
                yield doc, i, text[u.starts[max(0, i - b)] : u.ends[min(n - 1, i + b)]]

    def _embed(self, batch: list[str]) -> np.ndarray:
        """Embed one batch; check its shape and L2-normalise rows (zero rows stay zero)."""
        raw = self.embedder.embed_documents(batch)
        matrix = np.asarray(raw, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != len(batch):
            rows = matrix.shape[0] if matrix.ndim >= 1 else 0
            raise ValueError(
                f"embedder.embed_documents returned {rows} rows (shape {matrix.shape}) "
                f"for {len(batch)} texts; expected shape ({len(batch)}, D)"
            )
        if not np.all(np.isfinite(matrix)):
            raise ValueError("embedder.embed_documents returned non-finite values")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit: np.ndarray = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        return unit

    def _distances(self, docs: list[str], units: list[_Units]) -> list[np.ndarray]:
        """Cosine distances between neighbouring windows, per document, embedding in batches.

        Windows are generated lazily and only the previous batch's last row is kept, so memory
        is ``O(batch_size * D + n)`` however long the text.  ``distances[i]`` compares the
        windows of units ``i`` and ``i + 1``.
        """
        out = [np.zeros(max(0, len(u.starts) - 1), dtype=np.float64) for u in units]
        previous: np.ndarray | None = None  # last embedded row of the previous batch
        dim: int | None = None
        batch: list[str] = []
        owners: list[tuple[int, int]] = []

        def flush() -> None:
            nonlocal previous, dim
            matrix = self._embed(batch)
            if dim is None:
                dim = matrix.shape[1]
            elif matrix.shape[1] != dim:
                raise ValueError(f"embedder returned rows of dimension {matrix.shape[1]}, earlier {dim}")
            # stacked[j] . stacked[j + 1] for every consecutive pair, the previous batch's last
            # row included; row k of this batch is stacked[k + shift].
            shift = 0 if previous is None else 1
            stacked = matrix if previous is None else np.vstack([previous, matrix])
            dots = np.einsum("ij,ij->i", stacked[:-1], stacked[1:])
            for k, (doc, i) in enumerate(owners):
                if i > 0:  # the row before belongs to the same document
                    out[doc][i - 1] = 1.0 - min(1.0, max(-1.0, float(dots[k + shift - 1])))
            previous = matrix[-1:]
            batch.clear()
            owners.clear()

        for doc, i, window in self._windows(docs, units):
            batch.append(window)
            owners.append((doc, i))
            if len(batch) == self.batch_size:
                flush()
        if batch:
            flush()
        return out

    def _assemble(self, text: str, u: _Units, distances: np.ndarray) -> list[Chunk]:
        """Breakpoints, size control and exact final counts for one document."""
        n = len(u.starts)
        if n == 0:
            return []
        if n == 1:
            return [Chunk(text[u.starts[0] : u.ends[0]], u.starts[0], u.ends[0], u.counts[0])]
        prefix = [0]
        for c in u.counts:
            prefix.append(prefix[-1] + c)
        picker = BoundaryPicker(distances, prefix)
        cuts = [
            0,
            *(int(i) + 1 for i in find_breakpoints(distances, self.breakpoint_type, self.breakpoint_amount)),
            n,
        ]
        pieces: list[tuple[int, int]] = []
        for a, b in pairwise(cuts):
            pieces.extend(split_oversize_piece((a, b), prefix, picker, self.min_tokens, self.max_tokens))
        pieces = merge_small_pieces(pieces, prefix, distances, self.min_tokens, self.max_tokens)

        def piece_text(a: int, b: int) -> str:
            return text[u.starts[a] : u.ends[b - 1]]

        final = enforce_max_tokens(
            pieces, u.counts, piece_text, self._count, picker, self.min_tokens, self.max_tokens
        )
        return [Chunk(piece_text(a, b), u.starts[a], u.ends[b - 1], c) for a, b, c in final]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(max_tokens={self.max_tokens}, min_tokens={self.min_tokens}, "
            f"buffer_size={self.buffer_size}, breakpoint_type={self.breakpoint_type!r}, "
            f"breakpoint_amount={self.breakpoint_amount}, batch_size={self.batch_size})"
        )
