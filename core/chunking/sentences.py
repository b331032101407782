"""Sentence splitting with exact character offsets, for English, Chinese and mixed text.

Why offsets instead of strings: chunks are later cut from the *source* text, so every boundary
must map back to an exact position.  Whitespace convention (one rule, applied everywhere):
a sentence span never starts or ends with whitespace; whitespace *between* sentences belongs
to no sentence.  A chunk is the source slice from its first sentence's start to its last
sentence's end, so whitespace inside a chunk is kept verbatim and only whitespace between
chunks is dropped: no non-whitespace character is ever lost.

Rules (all linear time, one regex pass per line):

* A line break ends a sentence, except a single line break inside a hard-wrapped sentence: when
  the line does not end in sentence punctuation and the next line starts with a lowercase letter,
  the two lines are one sentence.  Blank lines (paragraph breaks) always end a sentence.
* ``。！？｡`` end a sentence immediately (Chinese/Japanese do not put a space after them);
  the full-width semicolon ``；`` does too when ``split_on_semicolon=True``.
* ``.``, ``!``, ``?`` (and runs like ``?!`` or ``...``) end a sentence only when followed by
  whitespace, the end of the line or a CJK character.  ``3.14``, ``example.com`` and
  ``v1.2.3`` therefore never split.
* Closing quotes and brackets right after a terminator stay with the sentence (``"Hi."``).
* A single ``.`` after a known abbreviation (``e.g.``, ``i.e.``, ``Dr.``, ``U.S.``, ...), after a
  single capital letter (an initial, ``J. Smith``) or after a list number at the start of a
  line (``1. First``) does not split.  This is a heuristic: it prefers under-splitting, which
  is harmless for chunking, to over-splitting.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Span", "split_sentences"]


class Span(NamedTuple):
    """Half-open character range ``[start, end)`` into the source text."""

    start: int
    end: int


# Everything str.splitlines() treats as a line boundary.
_LINE = re.compile(r"[^\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")

_CLOSERS = (
    "\"'\u201d\u2019\u300d\u300f\uff09)]\u3011\u300b\u3009\uff5d}"
    "\u3015\u3017\u3019\u301b\u203a\u00bb\uff02\uff07"
)
_CJK_TERMINATORS = "\u3002\uff01\uff1f\uff61"  # 。！？｡
_CJK_SEMICOLON = "\uff1b"  # ；
_LATIN_TERMINATORS = ".!?"

# CJK ideographs, kana, hangul and full-width forms: a Latin terminator directly followed by
# one of these (``OK!然后``) still ends the sentence.
_CJK_CHAR = re.compile(
    "[\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]"
)

_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "cf",
        "vs",
        "al",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "fig",
        "figs",
        "eq",
        "eqs",
        "approx",
        "dept",
        "inc",
        "ltd",
        "corp",
        "vol",
        "pp",
        "ca",
        "resp",
    ]
)
_DOTTED_INITIALS = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")  # e.g, i.e, U.S, a.m
_OPENERS = "\"'(\u201c\u2018[{\u300c\u300e\uff08\u3010\u300a"
_MAX_ABBREV_LEN = 12


def _terminator_pattern(split_on_semicolon: bool) -> re.Pattern[str]:
    cjk = _CJK_TERMINATORS + (_CJK_SEMICOLON if split_on_semicolon else "")
    return re.compile(f"[{re.escape(_LATIN_TERMINATORS + cjk)}]+[{re.escape(_CLOSERS)}]*")


_TERMINATORS = {flag: _terminator_pattern(flag) for flag in (False, True)}


def _is_abbreviation(text: str, line_start: int, dot: int) -> bool:
    """True when the ``.`` at ``dot`` closes an abbreviation, initial or list number."""
    begin = dot
    limit = max(line_start, dot - _MAX_ABBREV_LEN)
    while begin > limit and not text[begin - 1].isspace():
        begin -= 1
    if begin == dot:
        return False
    if begin > line_start and not text[begin - 1].isspace():
        return False  # token longer than any abbreviation
    token = text[begin:dot].lstrip(_OPENERS)
    if not token:
        return False
    if len(token) == 1 and "A" <= token <= "Z":
        return True  # initial: "J. Smith"
    if token.isdigit() and text[line_start:begin].strip() == "":
        return True  # list item: "1. First"
    lowered = token.lower()
    return lowered in _ABBREVIATIONS or _DOTTED_INITIALS.match(token) is not None


def _ends_sentence(text: str, line_start: int, line_end: int, match: re.Match[str]) -> bool:
    run = match.group()
    if any(ch in run for ch in _CJK_TERMINATORS) or _CJK_SEMICOLON in run:
        return True
    after = match.end()
    if after < line_end and not text[after].isspace() and _CJK_CHAR.match(text, after) is None:
        return False
    if run.rstrip(_CLOSERS) == ".":
        return not _is_abbreviation(text, line_start, match.start())
    return True


def _append_stripped(text: str, start: int, end: int, out: list[Span]) -> None:
    """Append ``text[start:end]`` without surrounding whitespace, if anything is left."""
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        lead = len(piece) - len(piece.lstrip())
        out.append(Span(start + lead, start + lead + len(stripped)))


def split_sentences(text: str, *, split_on_semicolon: bool = False) -> list[Span]:
    """Split ``text`` into sentence spans (see the module docstring for the rules).

    Returns spans in source order; they do not overlap, never start or end with whitespace and
    together cover every non-whitespace character of ``text``.  Empty or whitespace-only input
    gives ``[]``.
    """
    spans: list[Span] = []
    terminators = _TERMINATORS[split_on_semicolon]
    for line in _LINE.finditer(text):
        line_start, line_end = line.span()
        sentence_start = line_start
        for match in terminators.finditer(text, line_start, line_end):
            if _ends_sentence(text, line_start, line_end, match):
                _append_stripped(text, sentence_start, match.end(), spans)
                sentence_start = match.end()
        _append_stripped(text, sentence_start, line_end, spans)
    return _join_wrapped_lines(text, spans)


def _join_wrapped_lines(text: str, spans: list[Span]) -> list[Span]:
    """Merge a sentence cut by a single hard line wrap (``...a clear\nmorning can...``) back together."""
    joined: list[Span] = []
    for span in spans:
        if joined:
            previous = joined[-1]
            gap = text[previous.end:span.start]
            last = text[previous.end - 1]
            if (gap.count("\n") == 1 and gap.strip() == "" and text[span.start].islower()
                    and last not in _LATIN_TERMINATORS + _CJK_TERMINATORS + _CLOSERS + ":"):
                joined[-1] = Span(previous.start, span.end)
                continue
        joined.append(span)
    return joined
