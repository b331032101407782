"""``SemanticChunker``: split text where the meaning shifts, with an exact token bound per chunk.

Pipeline (every step linear in the text, except boundary queries at ``O(log n)`` each):

1. split into units with exact offsets: fenced code blocks, lists and tables (each with its
   introducing line), headings (joined to what follows) and, in plain text, sentences
   (:mod:`.structure`, :mod:`.sentences`);
2. count each unit's tokens once, in batches; split any unit over ``max_tokens`` into balanced
   pieces at its best internal boundary (:mod:`.token_split`);
3. for every gap between units, compare the window of ``buffer_size + 1`` units before it with
   the window after it (each distinct window embedded once, in batches of ``batch_size``; a code
   block or list costs one window, not one per line);
4. cut at breakpoints (:mod:`.breakpoints`), split groups over ``max_tokens`` at their
   strongest boundary, merge groups under ``min_tokens`` into the more similar neighbour, then
   count every final chunk's real text and re-split any overflow (:mod:`.sizing`).

Chunks are exact source slices: ``source[chunk.start:chunk.end] == chunk.text``.  A boundary
never falls inside a unit, unless that unit alone exceeds ``max_tokens``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .breakpoints import find_breakpoints, validate_breakpoint
from .sizing import BoundaryPicker, enforce_max_tokens, merge_small_pieces, split_oversize_piece
from .structure import Heading, parse_blocks
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
    """A chunk of the source: ``source[start:end] == text``; ``token_count`` is its real count.

    ``headings`` is the heading path above the chunk (outermost first), filled only when the
    chunker runs with ``heading_path=True``; then ``token_count`` counts :attr:`embedding_text`.
    """

    text: str
    start: int
    end: int
    token_count: int
    headings: tuple[str, ...] = ()

    @property
    def embedding_text(self) -> str:
        """The text to embed: the heading path (``A > B``), a blank line, then the chunk text."""
        return heading_prefix(self.headings) + self.text


def heading_prefix(headings: tuple[str, ...]) -> str:
    """``"A > B\\n\\n"`` for the path ``("A", "B")``; ``""`` for no headings."""
    return " > ".join(headings) + "\n\n" if headings else ""


@dataclass(slots=True)
class _Units:
    """Units of one document (sentences, structural blocks, or balanced pieces of oversize ones), in order."""

    starts: list[int]
    ends: list[int]
    counts: list[int]
    paths: list[tuple[str, ...]] = field(default_factory=list)  # heading path per unit (option on)
    bounds: list[int] = field(default_factory=list)  # counts with the heading prefix (option on)


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
        buffer_size: extra units in each window: a gap compares units ``i - buffer_size .. i`` with
            ``i + 1 .. i + 1 + buffer_size``.
        breakpoint_type: ``percentile``, ``standard_deviation``, ``interquartile``, ``gradient``
            or ``absolute`` (see :mod:`.breakpoints`).
        breakpoint_amount: the method's parameter; ``None`` uses the method's default.
        batch_size: windows per ``embed_documents`` call.
        split_on_semicolon: also end sentences at the full-width semicolon ``；``.
        heading_path: give each chunk its Markdown heading path (``Chunk.headings``) and bound
            ``Chunk.embedding_text`` (path + text) by ``max_tokens`` instead of the text alone.

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
        heading_path: bool = False,
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
        self.heading_path = bool(heading_path)
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
        """Structural units and their counts; a unit over ``max_tokens`` becomes balanced pieces."""
        blocks, headings = parse_blocks(text, split_on_semicolon=self.split_on_semicolon)
        counts = self._count([text[b.start : b.end] for b in blocks])
        units = _Units([], [], [])
        paths = _heading_paths(headings, [b.start for b in blocks]) if self.heading_path else None
        bounds = self._count([heading_prefix(p) + text[b.start : b.end] for b, p in zip(blocks, paths or [])])
        for index, (block, count) in enumerate(zip(blocks, counts)):
            path = paths[index] if paths else ()
            prefix = heading_prefix(path)
            bound = bounds[index] if paths else count
            if bound <= self.max_tokens:
                pieces = [(block.start, block.end, count, bound)]
            else:
                if prefix and self._count([prefix])[0] >= self.max_tokens:
                    raise ValueError(
                        f"the heading path {prefix.strip()!r} alone takes max_tokens={self.max_tokens} or more; "
                        "raise max_tokens or turn heading_path off"
                    )

                def count_with_prefix(texts: list[str], _prefix: str = prefix) -> list[int]:
                    return self._count([_prefix + t for t in texts])

                split = split_long_span(
                    text, block.start, block.end, count_with_prefix, self.max_tokens,
                    count=bound, structured=block.structured, joints=block.joints,
                    heading_joints=block.heading_joints,
                )
                plain = self._count([text[s:e] for s, e, _ in split]) if prefix else [c for _, _, c in split]
                pieces = [(s, e, c, b) for (s, e, b), c in zip(split, plain)]
            for s, e, c, b in pieces:
                units.starts.append(s)
                units.ends.append(e)
                units.counts.append(c)
                units.bounds.append(b)
                units.paths.append(path)
        return units

    def _gap_windows(self, n: int) -> Iterator[tuple[int, int, int]]:
        """For each gap ``i`` (between units ``i`` and ``i + 1``): ``(i, left, right)`` unit ranges' ends.

        The left window is units ``i - b .. i`` and the right window ``i + 1 .. i + 1 + b`` (clipped), so
        the gap's distance compares what comes before it with what comes after it.  Centred windows
        (``i - b .. i + b`` against ``i + 1 - b .. i + 1 + b``) would mix the new topic into the left
        side and put the strongest distance ``b`` units before the real shift.
        """
        b = self.buffer_size
        for i in range(n - 1):
            yield i, max(0, i - b), min(n - 1, i + 1 + b)

    def _windows(self, docs: list[str], units: list[_Units]) -> Iterator[tuple[int, int, str, tuple[int, ...]]]:
        """Yield ``(doc, window_id, text, gaps)``: each distinct window once, in source order, with the gaps
        that use it (``+i + 1`` as the left side of gap ``i``, ``-(i + 1)`` as the right side)."""
        for doc, (text, u) in enumerate(zip(docs, units)):
            n = len(u.starts)
            if n < 2:
                continue  # nothing to compare: no embedding needed
            ids: dict[tuple[int, int], int] = {}
            pending: dict[int, list[int]] = {}
            spans: list[tuple[int, int]] = []
            for i, lo, hi in self._gap_windows(n):
                for key, side in (((lo, i), i + 1), ((i + 1, hi), -(i + 1))):
                    if key not in ids:
                        ids[key] = len(spans)
                        spans.append(key)
                    pending.setdefault(ids[key], []).append(side)
            # A window's gaps are known once the gap loop has passed its range: emit in order.
            for window_id, (lo, hi) in enumerate(spans):
                yield doc, window_id, text[u.starts[lo] : u.ends[hi]], tuple(pending[window_id])

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
        """Cosine distances across every gap, per document, embedding windows in batches.

        Windows are generated lazily; a window's row is kept only until both gaps that use it are
        computed (about ``buffer_size + 1`` rows per document), so memory is ``O((batch_size +
        buffer_size) * D + n)`` however long the text.  ``distances[i]`` is the gap between units
        ``i`` and ``i + 1``.
        """
        out = [np.zeros(max(0, len(u.starts) - 1), dtype=np.float64) for u in units]
        halves: dict[tuple[int, int, int], np.ndarray] = {}  # (doc, gap, side) -> row waiting for its pair
        dim: int | None = None
        batch: list[str] = []
        owners: list[tuple[int, tuple[int, ...]]] = []

        def flush() -> None:
            nonlocal dim
            matrix = self._embed(batch)
            if dim is None:
                dim = matrix.shape[1]
            elif matrix.shape[1] != dim:
                raise ValueError(f"embedder returned rows of dimension {matrix.shape[1]}, earlier {dim}")
            for row, (doc, gaps) in zip(matrix, owners):
                for side in gaps:
                    gap, other = abs(side) - 1, (0 if side < 0 else 1)
                    partner = halves.pop((doc, gap, other), None)
                    if partner is None:
                        halves[(doc, gap, 1 - other)] = row
                    else:
                        out[doc][gap] = 1.0 - min(1.0, max(-1.0, float(row @ partner)))
            batch.clear()
            owners.clear()

        for doc, _, window, gaps in self._windows(docs, units):
            batch.append(window)
            owners.append((doc, gaps))
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
        paths = u.paths if self.heading_path else [()] * n
        bounds = u.bounds if self.heading_path else u.counts
        if n == 1:
            return [Chunk(text[u.starts[0] : u.ends[0]], u.starts[0], u.ends[0], bounds[0], paths[0])]
        prefix = [0]
        for c in u.counts:
            prefix.append(prefix[-1] + c)
        # Estimates are sums of unit counts; the heading prefix (option on) is reserved up front.
        budget = max(1, self.max_tokens - max(b - c for b, c in zip(bounds, u.counts)))
        picker = BoundaryPicker(distances, prefix)
        cuts = [
            0,
            *(int(i) + 1 for i in find_breakpoints(distances, self.breakpoint_type, self.breakpoint_amount)),
            n,
        ]
        pieces: list[tuple[int, int]] = []
        for a, b in pairwise(cuts):
            pieces.extend(split_oversize_piece((a, b), prefix, picker, self.min_tokens, budget))
        pieces = merge_small_pieces(pieces, prefix, distances, self.min_tokens, budget)

        def piece_text(a: int, b: int) -> str:
            return text[u.starts[a] : u.ends[b - 1]]

        def counted_text(a: int, b: int) -> str:
            return heading_prefix(paths[a]) + piece_text(a, b)

        final = enforce_max_tokens(
            pieces, bounds, counted_text, self._count, picker, self.min_tokens, self.max_tokens
        )
        return [Chunk(piece_text(a, b), u.starts[a], u.ends[b - 1], c, paths[a]) for a, b, c in final]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(max_tokens={self.max_tokens}, min_tokens={self.min_tokens}, "
            f"buffer_size={self.buffer_size}, breakpoint_type={self.breakpoint_type!r}, "
            f"breakpoint_amount={self.breakpoint_amount}, batch_size={self.batch_size}, "
            f"heading_path={self.heading_path})"
        )


def _heading_paths(headings: list[Heading], starts: list[int]) -> list[tuple[str, ...]]:
    """The heading path at each (sorted) offset, nested by level; a heading the unit itself begins with
    is part of its text, so the path stops at that heading's parents."""
    paths: list[tuple[str, ...]] = []
    stack: list[Heading] = []
    k = 0
    for start in starts:
        while k < len(headings) and headings[k].start <= start:
            heading = headings[k]
            while stack and stack[-1].level >= heading.level:
                stack.pop()
            stack.append(heading)
            k += 1
        path = stack[:-1] if stack and stack[-1].start == start else stack
        paths.append(tuple(h.title for h in path if h.title))
    return paths
