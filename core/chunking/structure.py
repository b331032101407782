"""Markdown-style structure: the units a chunk boundary may never fall inside.

Why: a sentence splitter sees every line of a code block or list as a sentence, so a semantic
boundary can land after the first line of a function or between ``Steps:`` and its list.  This
module finds, with exact offsets and in one linear pass over the lines:

* fenced code blocks (```` ``` ```` or ``~~~``, up to the matching closing fence or the end);
* lists: consecutive items (``-``, ``*``, ``+``, ``1.``, ``1)``) with their indented or wrapped
  continuation lines, across blank lines while the next line is an item or indented;
* tables: runs of ``|`` rows (a leading ``|`` on two lines, or a header row with a ``---|---``
  delimiter row under it);
* ATX headings (``# Title`` .. ``###### Title``).

Everything else is plain text, split into sentences exactly as :func:`split_sentences` does, so
plain text behaves as before.  Then two glue rules make the final blocks:

* a sentence ending in ``:`` (or ``：``) directly before a code block, list or table, with at most
  one blank line between, is the block's introducing line and joins it;
* a heading joins the unit after it (a chunk never ends on a bare heading).

The places where glued parts meet are recorded as ``joints``: if a block alone exceeds the
token bound, it is split there first (see :mod:`.token_split`).  Setext headings (underlined
with ``===``) and indented code blocks are not recognised: both are ambiguous with plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .sentences import split_sentences

__all__ = ["Block", "Heading", "parse_blocks"]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FENCE_CLOSE = re.compile(r"^\s*(`{3,}|~{3,})\s*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+|$)")
_ITEM = re.compile(r"^([ \t]*)(?:[-*+]|\d{1,9}[.)])[ \t]+\S")
_TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?\s*$|^\s*\|\s*:?-+:?\s*\|\s*$")
_INTRO_ENDS = (":", "\uff1a")


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of the text: ``text[start:end]``, never starting or ending with whitespace.

    ``kind`` is ``sentence``, ``code``, ``list``, ``table`` or ``heading`` (a heading that
    nothing follows); a glued block takes the kind of its body.  ``heading_joints`` are the
    offsets where a heading's body starts, ``joints`` where an introducing line's block starts.
    """

    start: int
    end: int
    kind: str
    joints: tuple[int, ...] = ()
    heading_joints: tuple[int, ...] = ()

    @property
    def structured(self) -> bool:
        """True for code, lists and tables: split them at lines, not at clauses."""
        return self.kind in ("code", "list", "table")


@dataclass(frozen=True, slots=True)
class Heading:
    """An ATX heading: its span, its level (number of ``#``) and its title text."""

    start: int
    end: int
    level: int
    title: str


def _lines(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every ``\\n``-separated line, without its line break (``\\r\\n`` too)."""
    lines: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    while pos < n:
        nl = text.find("\n", pos)
        stop = n if nl == -1 else nl
        end = stop - 1 if stop > pos and text[stop - 1] == "\r" else stop
        lines.append((pos, end))
        pos = n if nl == -1 else nl + 1
    return lines


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _strip_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    lead = len(piece) - len(piece.lstrip())
    return start + lead, start + lead + len(stripped)


class _Scanner:
    """One left-to-right pass over the lines; ``blocks`` and ``headings`` collect the result."""

    def __init__(self, text: str, split_on_semicolon: bool) -> None:
        self.text = text
        self.lines = _lines(text)
        self.split_on_semicolon = split_on_semicolon
        self.blocks: list[Block] = []
        self.headings: list[Heading] = []

    def line(self, i: int) -> str:
        s, e = self.lines[i]
        return self.text[s:e]

    def blank(self, i: int) -> bool:
        return not self.line(i).strip()

    def fence_end(self, i: int) -> int:
        """Index after the closing fence of the fence opened on line ``i`` (or after the last line)."""
        opener = _FENCE.match(self.line(i).lstrip(" \t")) or _FENCE.match(self.line(i))
        assert opener is not None
        mark = opener.group(1)
        for j in range(i + 1, len(self.lines)):
            close = _FENCE_CLOSE.match(self.line(j))
            if close and close.group(1)[0] == mark[0] and len(close.group(1)) >= len(mark):
                return j + 1
        return len(self.lines)

    def is_table_start(self, i: int) -> bool:
        if i + 1 >= len(self.lines):
            return False
        first, second = self.line(i), self.line(i + 1)
        if first.lstrip().startswith("|") and second.lstrip().startswith("|"):
            return True
        return "|" in first and _TABLE_DELIMITER.match(second) is not None

    def table_end(self, i: int) -> int:
        j = i + 2
        while j < len(self.lines) and not self.blank(j) and "|" in self.line(j):
            j += 1
        return j

    def list_end(self, i: int) -> int:
        """Index after the list starting on line ``i``."""
        top = _indent(self.line(i))
        j, n = i + 1, len(self.lines)
        while j < n:
            line = self.line(j)
            if not line.strip():
                k = j
                while k < n and self.blank(k):
                    k += 1
                if k < n and (_ITEM.match(self.line(k)) or _indent(self.line(k)) > top + 1):
                    j = k
                    continue
                return j
            if _FENCE.match(line.lstrip(" \t")) and _indent(line) > top:
                j = self.fence_end(j)
                continue
            if _indent(line) <= top and (_FENCE.match(line) or _HEADING.match(line) or self.is_table_start(j)):
                return j
            j += 1
        return j

    def emit_plain(self, first: int, stop: int) -> None:
        """Sentences of lines ``first..stop-1``."""
        if first >= stop:
            return
        start, end = self.lines[first][0], self.lines[stop - 1][1]
        for s, e in split_sentences(self.text[start:end], split_on_semicolon=self.split_on_semicolon):
            self.blocks.append(Block(start + s, start + e, "sentence"))

    def emit(self, first: int, stop: int, kind: str) -> None:
        span = _strip_span(self.text, self.lines[first][0], self.lines[stop - 1][1])
        if span is None:
            return
        start, end = span
        previous = self.blocks[-1] if self.blocks else None
        if (
            kind != "heading"
            and previous is not None
            and previous.kind == "sentence"
            and self.text[previous.end - 1] in _INTRO_ENDS
            and self.text.count("\n", previous.end, start) <= 2
        ):
            self.blocks[-1] = Block(previous.start, end, kind, (*previous.joints, start))
            return
        self.blocks.append(Block(start, end, kind))

    def run(self) -> None:
        i, plain, n = 0, 0, len(self.lines)
        while i < n:
            line = self.line(i)
            if _FENCE.match(line):
                stop, kind = self.fence_end(i), "code"
            elif heading := _HEADING.match(line):
                stop, kind = i + 1, "heading"
                title = line[heading.end() :].strip().rstrip("#").strip()
                s, e = self.lines[i]
                lead = _indent(line)
                self.headings.append(Heading(s + lead, s + len(line.rstrip()), len(heading.group(1)), title))
            elif _ITEM.match(line):
                stop, kind = self.list_end(i), "list"
            elif "|" in line and self.is_table_start(i):
                stop, kind = self.table_end(i), "table"
            else:
                i += 1
                continue
            self.emit_plain(plain, i)
            self.emit(i, stop, kind)
            i = plain = stop
        self.emit_plain(plain, n)


def _glue_headings(blocks: list[Block]) -> list[Block]:
    """Join every heading to the block after it; the joint records where the body starts."""
    out: list[Block] = []
    pending: Block | None = None
    for block in blocks:
        if pending is not None:
            kind = "heading" if block.kind == "heading" else block.kind
            block = Block(pending.start, block.end, kind, (*pending.joints, *block.joints),
                          (*pending.heading_joints, block.start, *block.heading_joints))
            pending = None
        if block.kind == "heading":
            pending = block
        else:
            out.append(block)
    if pending is not None:
        out.append(pending)
    return out


def parse_blocks(text: str, *, split_on_semicolon: bool = False) -> tuple[list[Block], list[Heading]]:
    """Split ``text`` into blocks (see the module docstring) and list its headings, both in order.

    Blocks do not overlap, never start or end with whitespace and together cover every
    non-whitespace character of ``text``.
    """
    scanner = _Scanner(text, split_on_semicolon)
    scanner.run()
    return _glue_headings(scanner.blocks), scanner.headings
