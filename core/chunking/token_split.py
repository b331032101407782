"""Split one over-long unit into balanced pieces at its best internal boundary.

A unit (a sentence, or a code block, list or table with its heading or introducing line) longer
than ``max_tokens`` must be cut.  Cutting greedily at the limit gives one full piece and a
stub, often mid-phrase ("... a | damaged ...").  Instead the unit is cut where a reader would
cut it, near the point that balances the pieces, and each part is cut again until it fits:

* the unit needs ``k = ceil(tokens / max_tokens)`` pieces, so the cut aims at the fraction
  ``floor(k / 2) / k`` of its length (the middle for two pieces, a third for three) and may
  move within ``1 / (2k)`` of it;
* where glued parts meet it cuts first, wherever that is: after a heading, then after an
  introducing line, so a block that fits alone is not cut;
* otherwise it takes the best boundary in that window, nearest the aim among equals.  Best first:
  a blank line, the start of a
  top-level line (a statement, a list item, a table row), any other line or sentence break
  (these four only in code, lists and tables), then ``;`` ``；``, then ``:`` ``：``, then ``,``
  ``，`` ``、``, then the space before a conjunction (``and``, ``but``, ``which`` ...), then any
  whitespace;
* with no such boundary in the window, the nearest one anywhere; with none at all (a long run of
  CJK characters or a URL), the aimed character itself.

Both parts are counted with the real counter exactly as they will be emitted, so the bound
holds for any tokenizer.  Work is ``O(L log L)`` characters counted for a unit of length ``L``.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence

from .sentences import split_sentences

__all__ = ["cut_candidates", "split_long_span"]

_CONJUNCTIONS = (
    "and|but|or|nor|yet|so|because|although|though|whereas|while|which|whereby|unless|until|since|"
    "whether|then|however|therefore|thus"
)
# Each pattern's match end is a cut position (the next piece starts there, after whitespace).
_SEMICOLON = re.compile(r"[;\uff1b]")
_COLON = re.compile(r":(?=\s)|\uff1a")
_COMMA = re.compile(r",(?=\s)|[\uff0c\u3001]")
_CONJUNCTION = re.compile(rf"\s(?=(?:{_CONJUNCTIONS})\s)")
_SPACE = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_CLOSERS = ")]}"


def _positions(pattern: re.Pattern[str], text: str, start: int, end: int, use_start: bool = False) -> list[int]:
    return [m.start() if use_start else m.end() for m in pattern.finditer(text, start, end)]


def cut_candidates(
    text: str,
    start: int,
    end: int,
    *,
    structured: bool = False,
    joints: Sequence[int] = (),
    heading_joints: Sequence[int] = (),
) -> list[list[int]]:
    """Cut positions inside ``text[start:end]``, one sorted list per level, best level first."""
    levels: list[list[int]] = [sorted(heading_joints), sorted(joints)]
    if structured:
        blank = _positions(_BLANK_LINE, text, start, end)
        top: list[int] = []
        other: list[int] = []
        line_starts = [m.end() for m in re.finditer(r"\n", text[start:end])]
        indents = []
        for offset in line_starts:
            q = start + offset
            line_end = text.find("\n", q, end)
            line = text[q : end if line_end == -1 else line_end]
            indents.append(len(line) - len(line.lstrip(" \t")) if line.strip() else None)
        real = [i for i in indents if i is not None]
        first_line = text[start : text.find("\n", start, end) if "\n" in text[start:end] else end]
        floor = min([*real, len(first_line) - len(first_line.lstrip(" \t"))]) if real else 0
        for offset, indent in zip(line_starts, indents):
            if indent is None:
                continue
            q = start + offset
            head = text[q + indent] if q + indent < end else ""
            (top if indent <= floor and head not in _CLOSERS else other).append(q)
        sentence_gaps = [s + start for s, _ in split_sentences(text[start:end])[1:]]
        levels += [blank, top, sorted(set(other) | set(sentence_gaps))]
    levels += [
        _positions(_SEMICOLON, text, start, end),
        _positions(_COLON, text, start, end),
        _positions(_COMMA, text, start, end),
        _positions(_CONJUNCTION, text, start, end),
        _positions(_SPACE, text, start, end, use_start=True),
    ]
    return [[p for p in level if start < p < end] for level in levels]


def _nearest(positions: list[int], target: float, lo: int, hi: int) -> int | None:
    """The position in ``[lo, hi]`` nearest ``target`` (ties: the left one), or ``None``."""
    k = bisect.bisect_left(positions, target)
    best: int | None = None
    for j in (k - 1, k):
        if 0 <= j < len(positions) and lo <= positions[j] <= hi:
            p = positions[j]
            if best is None or abs(p - target) < abs(best - target):
                best = p
    if best is not None:
        return best
    # target outside [lo, hi] or no neighbour inside: the closest inside the range
    i, j = bisect.bisect_left(positions, lo), bisect.bisect_right(positions, hi) - 1
    inside = [positions[x] for x in (i, j) if i <= j and 0 <= x < len(positions)]
    return min(inside, key=lambda p: (abs(p - target), p)) if inside else None


def _choose(levels: list[list[int]], a: int, b: int, count: int, max_tokens: int) -> int:
    k = max(2, math.ceil(count / max_tokens))
    length = b - a
    target = a + length * (k // 2) / k
    slack = length / (2 * k)
    lo, hi = max(a + 1, math.ceil(target - slack)), min(b - 1, math.floor(target + slack))
    # A joint (heading | body, then introducing line | list) anywhere beats any cut inside the body.
    for level in levels[:2]:
        joint = _nearest(level, target, a + 1, b - 1)
        if joint is not None:
            return joint
    for level in levels[2:]:
        p = _nearest(level, target, lo, hi)
        if p is not None:
            return p
    anywhere = [p for level in levels if (p := _nearest(level, target, a + 1, b - 1)) is not None]
    if anywhere:
        return min(anywhere, key=lambda p: (abs(p - target), p))
    return min(b - 1, max(a + 1, round(target)))


def split_long_span(
    text: str,
    start: int,
    end: int,
    count_texts: Callable[[list[str]], list[int]],
    max_tokens: int,
    *,
    count: int | None = None,
    structured: bool = False,
    joints: Sequence[int] = (),
    heading_joints: Sequence[int] = (),
) -> list[tuple[int, int, int]]:
    """Split ``text[start:end]`` into balanced pieces of at most ``max_tokens`` tokens each.

    ``start`` and ``end - 1`` must be non-whitespace; ``count`` is the span's known count, if any.
    Returns ``(start, end, token_count)`` triples in order; pieces never start or end with
    whitespace, and only whitespace between pieces is left out.  Raises ``ValueError`` if a single
    character alone exceeds ``max_tokens`` (then no split can satisfy the bound).
    """
    levels = cut_candidates(text, start, end, structured=structured, joints=joints, heading_joints=heading_joints)
    out: list[tuple[int, int, int]] = []
    stack: list[tuple[int, int, int | None]] = [(start, end, count)]
    while stack:
        a, b, c = stack.pop()
        if c is None:
            c = count_texts([text[a:b]])[0]
        if c <= max_tokens:
            out.append((a, b, c))
            continue
        if b - a == 1:
            raise ValueError(
                f"the character {text[a]!r} at offset {a} alone counts {c} tokens, more than max_tokens={max_tokens}"
            )
        p = _choose(levels, a, b, c, max_tokens)
        left_end = a + len(text[a:p].rstrip())
        right_start = p + len(text[p:b]) - len(text[p:b].lstrip())
        left, right = count_texts([text[a:left_end], text[right_start:b]])
        stack.append((right_start, b, right))
        stack.append((a, left_end, left))  # popped first: output stays in order
    return out
