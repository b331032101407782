"""Size control over runs of sentences: split oversize groups, merge undersize ones, enforce the bound.

Units are sentences or structural blocks (or pieces of oversize ones), numbered ``0..n-1``; a
*piece* is a half-open unit range ``(a, b)``; boundary ``i`` lies between units ``i`` and
``i + 1`` and has cosine distance ``distances[i]``.  Sizes are first *estimated* as the sum of
the units' token counts (each unit is counted once), which is what keeps the whole pass
linear.  BPE counts are not exactly additive (the whitespace between sentences, merges across
the joint), so :func:`enforce_max_tokens` re-counts every multi-unit piece's real text and
re-splits the few that overflow: the ``max_tokens`` guarantee is exact, not estimated.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import numpy as np

__all__ = ["BoundaryPicker", "enforce_max_tokens", "merge_small_pieces", "split_oversize_piece"]

Piece = tuple[int, int]

# Distances are compared after rounding so float noise does not break ties arbitrarily.
_DISTANCE_DECIMALS = 9


class BoundaryPicker:
    """Answer "where should piece ``(a, b)`` be split?" in ``O(log n)`` per query.

    Rule: the strongest boundary (largest distance) among those that leave at least
    ``min_tokens`` (estimated) on both sides; if no boundary qualifies, the strongest of all
    boundaries.  Exact ties, e.g. a flat stretch where the embedder sees no topic change, go to
    the boundary nearest the token midpoint, so a featureless run is halved rather than peeled
    one sentence at a time.  A segment tree over distance ranks gives the range maximum, and a
    per-rank sorted position list finds the tie nearest the midpoint; memory is ``O(n)``.
    """

    def __init__(self, distances: np.ndarray, prefix: list[int]) -> None:
        self._prefix = prefix
        rounded = np.round(np.asarray(distances, dtype=np.float64), _DISTANCE_DECIMALS)
        if rounded.size:
            _, ranks = np.unique(rounded, return_inverse=True)
            ranks = ranks.reshape(-1).astype(np.int64)
        else:
            ranks = np.empty(0, dtype=np.int64)
        size = 1
        while size < max(1, ranks.size):
            size *= 2
        tree = np.full(2 * size, -1, dtype=np.int64)
        tree[size : size + ranks.size] = ranks
        level = size
        while level > 1:  # build parents level by level, vectorised
            half = level // 2
            tree[half:level] = np.maximum(tree[level : 2 * level : 2], tree[level + 1 : 2 * level : 2])
            level = half
        self._size = size
        self._tree: list[int] = tree.tolist()
        order = np.argsort(ranks, kind="stable")  # positions grouped by rank, ascending within
        self._positions: list[int] = order.tolist()
        counts = np.bincount(ranks, minlength=int(ranks.max()) + 1 if ranks.size else 0)
        self._rank_offsets: list[int] = np.concatenate(([0], np.cumsum(counts))).tolist()

    def _range_max(self, lo: int, hi: int) -> int:
        """Largest rank among boundaries ``lo..hi`` (inclusive)."""
        best = -1
        lo += self._size
        hi += self._size + 1
        tree = self._tree
        while lo < hi:
            if lo & 1:
                best = max(best, tree[lo])
                lo += 1
            if hi & 1:
                hi -= 1
                best = max(best, tree[hi])
            lo >>= 1
            hi >>= 1
        return best

    def _nearest_with_rank(self, rank: int, lo: int, hi: int, target: int) -> int:
        """The boundary in ``lo..hi`` with this rank nearest ``target`` (ties: the left one)."""
        first, stop = self._rank_offsets[rank], self._rank_offsets[rank + 1]
        target = min(max(target, lo), hi)
        k = bisect.bisect_left(self._positions, target, first, stop)
        right = self._positions[k] if k < stop and self._positions[k] <= hi else None
        left = self._positions[k - 1] if k > first and self._positions[k - 1] >= lo else None
        if left is None:
            assert right is not None
            return right
        if right is None or target - left <= right - target:
            return left
        return right

    def choose(self, a: int, b: int, min_tokens: int) -> int:
        """Return the split index ``s`` (``a < s < b``): the piece becomes ``(a, s)`` and ``(s, b)``."""
        if b - a < 2:
            raise ValueError(f"cannot split a piece of {b - a} unit(s)")
        prefix = self._prefix
        first_ok = bisect.bisect_left(prefix, prefix[a] + min_tokens, a + 1, b)
        last_ok = bisect.bisect_right(prefix, prefix[b] - min_tokens, a + 1, b) - 1
        lo, hi = (first_ok, last_ok) if first_ok <= last_ok else (a + 1, b - 1)
        middle = bisect.bisect_left(prefix, (prefix[a] + prefix[b]) / 2, a + 1, b)
        # Split index s corresponds to boundary s - 1.
        rank = self._range_max(lo - 1, hi - 1)
        return self._nearest_with_rank(rank, lo - 1, hi - 1, middle - 1) + 1


def split_oversize_piece(
    piece: Piece, prefix: list[int], picker: BoundaryPicker, min_tokens: int, max_tokens: int
) -> list[Piece]:
    """Recursively split ``piece`` at its strongest boundary until every part's estimate fits.

    A single unit is never split here (units already fit: see ``token_split``).
    """
    out: list[Piece] = []
    stack = [piece]
    while stack:
        a, b = stack.pop()
        if b - a == 1 or prefix[b] - prefix[a] <= max_tokens:
            out.append((a, b))
            continue
        s = picker.choose(a, b, min_tokens)
        stack.append((s, b))
        stack.append((a, s))  # popped first: output stays in order
    return out


def merge_small_pieces(
    pieces: list[Piece], prefix: list[int], distances: np.ndarray, min_tokens: int, max_tokens: int
) -> list[Piece]:
    """Merge each piece under ``min_tokens`` into its more similar neighbour when the result fits.

    "More similar" means the smaller cosine distance at the shared boundary (ties: the left
    neighbour).  If that merge would exceed ``max_tokens`` the other neighbour is tried; if both
    would, the piece stays small.  A merged piece that is still small is reconsidered, so a run
    of tiny pieces coalesces.  One left-to-right pass, amortised ``O(len(pieces))``.
    """
    out: list[Piece] = []
    carry: int | None = None  # start of a small piece being merged into the next one
    for index, (a, b) in enumerate(pieces):
        if carry is not None:
            a, carry = carry, None
        nxt = pieces[index + 1] if index + 1 < len(pieces) else None
        while True:
            if prefix[b] - prefix[a] >= min_tokens:
                out.append((a, b))
                break
            left_ok = bool(out) and prefix[b] - prefix[out[-1][0]] <= max_tokens
            right_ok = nxt is not None and prefix[nxt[1]] - prefix[a] <= max_tokens
            if left_ok and (not right_ok or distances[a - 1] <= distances[b - 1]):
                a = out.pop()[0]
                continue
            if right_ok:
                carry = a
            else:
                out.append((a, b))
            break
    return out


def enforce_max_tokens(
    pieces: list[Piece],
    unit_counts: list[int],
    piece_text: Callable[[int, int], str],
    count_texts: Callable[[list[str]], list[int]],
    picker: BoundaryPicker,
    min_tokens: int,
    max_tokens: int,
) -> list[tuple[int, int, int]]:
    """Count each piece's real text and re-split any that overflow; return ``(a, b, tokens)``.

    Single-unit pieces reuse their unit's exact count.  An overflowing piece is split at the
    boundary :class:`BoundaryPicker` chooses and both halves are re-counted, until all fit;
    this terminates because halves shrink and every single unit fits.
    """
    multi = [i for i, (a, b) in enumerate(pieces) if b - a > 1]
    real = count_texts([piece_text(*pieces[i]) for i in multi])
    counts = [unit_counts[a] if b - a == 1 else 0 for a, b in pieces]
    for i, c in zip(multi, real):
        counts[i] = c
    result: list[tuple[int, int, int]] = []
    for (a, b), c in zip(pieces, counts):
        if c <= max_tokens:
            result.append((a, b, c))
            continue
        stack: list[tuple[int, int, int | None]] = [(a, b, None)]  # None: overflowing, split it
        while stack:
            x, y, known = stack.pop()
            if known is not None:
                result.append((x, y, known))
                continue
            if y - x == 1:
                raise RuntimeError(
                    "the token counter gave different counts for the same text; cannot enforce max_tokens"
                )
            s = picker.choose(x, y, min_tokens)
            halves = [(x, s), (s, y)]
            to_count = [h for h in halves if h[1] - h[0] > 1]
            fresh = dict(zip(to_count, count_texts([piece_text(*h) for h in to_count])))
            for h in reversed(halves):
                c_h = fresh.get(h, unit_counts[h[0]])
                stack.append((h[0], h[1], c_h if c_h <= max_tokens else None))
    return result
