"""Split one over-long sentence at token boundaries, using the real token counter.

Why not slice token ids: the chunker works in character offsets of the source, and counters
are black boxes (``list[str] -> list[int]``).  So we search for the longest prefix whose
*counted* size fits, by galloping then binary search over character positions.  Each accepted
piece was counted exactly as it will be emitted, so the bound holds for any tokenizer,
including CJK text without spaces.  Work per piece is ``O(len(piece) * log(len(piece)))``:
the search window starts at the previous piece's length and only grows by doubling, so a very
long sentence never makes every probe re-count the whole remainder.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["split_long_span"]

# A cut is "soft" right after one of these (clause punctuation), or right before whitespace.
_SOFT_BREAKS = frozenset(",;:\u3001\uff0c\uff1b\uff1a)\uff09]\u3011")
_CHARS_PER_TOKEN_GUESS = 4


def _snap(text: str, start: int, cut: int) -> int:
    """Move ``cut`` back to the nearest whitespace or clause punctuation in the piece's second half.

    Returns ``cut`` unchanged when it already sits on whitespace or no such position exists
    (e.g. CJK or a URL without any break), so the piece never shrinks below half its length.
    """
    if text[cut].isspace() or text[cut - 1].isspace():
        return cut
    floor = start + (cut - start) // 2
    for q in range(cut - 1, floor, -1):
        if text[q].isspace() or text[q - 1] in _SOFT_BREAKS:
            return q
    return cut


def split_long_span(
    text: str,
    start: int,
    end: int,
    count_text: Callable[[str], int],
    max_tokens: int,
) -> list[tuple[int, int, int]]:
    """Split ``text[start:end]`` into pieces of at most ``max_tokens`` tokens each.

    ``start`` and ``end - 1`` must be non-whitespace.  Returns ``(start, end, token_count)``
    triples in order; pieces never start or end with whitespace, and only whitespace between
    pieces is left out.  Raises ``ValueError`` if a single character alone exceeds
    ``max_tokens`` (then no split can satisfy the bound).
    """
    pieces: list[tuple[int, int, int]] = []
    guess = max(1, max_tokens * _CHARS_PER_TOKEN_GUESS)
    while start < end:
        counted: dict[int, int] = {}

        def fits(cut: int, _start: int = start, _counted: dict[int, int] = counted) -> bool:
            _counted[cut] = count_text(text[_start:cut].rstrip())
            return _counted[cut] <= max_tokens

        good, bad = start, None
        probe = min(end, start + guess)
        while True:  # gallop up until a probe overflows or the rest fits
            if fits(probe):
                good = probe
                if probe == end:
                    break
                probe = min(end, start + 2 * (probe - start))
            else:
                bad = probe
                break
        if bad is not None:
            while bad - good > 1:
                mid = (good + bad) // 2
                if fits(mid):
                    good = mid
                else:
                    bad = mid
        if good == start:
            raise ValueError(
                f"the character {text[start]!r} at offset {start} alone counts "
                f"{counted.get(start + 1, '?')} tokens, more than max_tokens={max_tokens}"
            )
        cut = good
        if cut < end:
            snapped = _snap(text, start, cut)
            if snapped != cut and fits(snapped):
                cut = snapped
        piece = text[start:cut].rstrip()
        pieces.append((start, start + len(piece), counted[cut]))
        guess = max(1, cut - start)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    return pieces
