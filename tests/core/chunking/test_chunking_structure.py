"""Structure-aware units: code blocks, lists (with their introducing line), tables and headings."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qwen3_vl_rag.core.chunking import SemanticChunker
from qwen3_vl_rag.core.chunking.structure import parse_blocks

DOC = """# Guide

Intro sentence one. Intro two.

## Install
Run these steps:

1. Download it.
2. Unpack it
   with care.

```python
def f():

    return 1
```
| a | b |
|---|---|
| 1 | 2 |

Done. Bye."""


def test_blocks_glue_headings_and_introducing_lines_and_keep_code_and_tables_whole() -> None:
    blocks, headings = parse_blocks(DOC)
    got = [(b.kind, DOC[b.start : b.end]) for b in blocks]
    assert got == [
        ("sentence", "# Guide\n\nIntro sentence one."),
        ("sentence", "Intro two."),
        ("list", "## Install\nRun these steps:\n\n1. Download it.\n2. Unpack it\n   with care."),
        ("code", "```python\ndef f():\n\n    return 1\n```"),
        ("table", "| a | b |\n|---|---|\n| 1 | 2 |"),
        ("sentence", "Done."),
        ("sentence", "Bye."),
    ]
    assert blocks[2].heading_joints == (DOC.index("Run these"),)
    assert blocks[2].joints == (DOC.index("1. Download"),)
    assert [(h.level, h.title) for h in headings] == [(1, "Guide"), (2, "Install")]


def test_plain_text_units_are_its_sentences() -> None:
    text = "First one. Second one!\nThird line\n\n第四句。第五句？"
    blocks, headings = parse_blocks(text)
    expected = ["First one.", "Second one!", "Third line", "第四句。", "第五句？"]
    assert [text[b.start : b.end] for b in blocks] == expected
    assert headings == []


def test_unclosed_fence_runs_to_the_end() -> None:
    text = "Look:\n```\ncode line\n\nmore code"
    blocks, _ = parse_blocks(text)
    assert [(b.kind, text[b.start : b.end]) for b in blocks] == [("code", text)]


def test_a_code_block_costs_one_window_and_is_never_cut(doubles) -> None:
    code = "\n".join(f"x{i} = rocket_{i}()" for i in range(12))
    text = f"The rocket flew. It reached orbit.\n\n```python\n{code}\n```\n\nBake the flour. Butter the oven."
    embedder = doubles.TopicEmbedder()
    chunks = SemanticChunker(embedder, doubles.word_counter, max_tokens=200, min_tokens=1).split(text)
    assert len(embedder.calls[0]) == 5 + 1  # 5 units (2 sentences, the block, 2 sentences), one window more
    assert any(c.text.count("```") == 2 for c in chunks)
    assert all(c.text.count("```") in (0, 2) for c in chunks)


def test_an_oversize_code_block_splits_at_blank_lines_first(doubles) -> None:
    body = "\n\n".join("\n".join(f"    s{j}_{i} = {i}" for i in range(4)) for j in range(3))
    text = f"```\n{body}\n```"
    chunks = SemanticChunker(doubles.HashEmbedder(), doubles.word_counter, max_tokens=20, min_tokens=1).split(text)
    assert len(chunks) > 1
    assert all(c.token_count <= 20 for c in chunks)
    for before, after in zip(chunks, chunks[1:]):
        assert text[before.end : after.start].count("\n") == 2  # the cut is a blank line


def test_heading_path_prefixes_the_embedding_text_and_is_bounded(doubles) -> None:
    text = "# Space\n\n## Rockets\n\nThe rocket flew to orbit.\n\n# Food\n\nThe oven baked the flour."
    chunker = SemanticChunker(doubles.TopicEmbedder(), doubles.word_counter, max_tokens=12, min_tokens=1,
                              heading_path=True)
    chunks = chunker.split(text)
    assert [c.headings for c in chunks] == [(), ()]  # each chunk starts with its own top-level heading
    for chunk in chunks:
        assert chunk.embedding_text.endswith(chunk.text)
        assert chunk.token_count == doubles.word_counter([chunk.embedding_text])[0] <= 12
    rocket = next(c for c in chunks if "rocket" in c.text)
    assert rocket.embedding_text.startswith(" > ".join(rocket.headings))
    off = SemanticChunker(doubles.TopicEmbedder(), doubles.word_counter, max_tokens=12, min_tokens=1).split(text)
    assert all(c.headings == () and c.embedding_text == c.text for c in off)


def test_heading_path_names_the_enclosing_sections(doubles) -> None:
    text = ("# Space\n\n## Rockets\n\n" + " ".join(["The rocket flew to orbit."] * 6)
            + "\n\n## Planets\n\n" + " ".join(["The planet has an orbit."] * 6))
    chunker = SemanticChunker(doubles.TopicEmbedder(), doubles.word_counter, max_tokens=30, min_tokens=1,
                              heading_path=True)
    chunks = chunker.split(text)
    paths = {c.headings for c in chunks}
    assert ("Space", "Rockets") in paths and len(chunks) >= 3
    assert paths <= {(), ("Space",), ("Space", "Rockets"), ("Space", "Planets")}
    for chunk in chunks:
        if chunk.text.startswith("## Planets"):
            assert chunk.headings == ("Space",)


# ---------------------------------------------------------------- property test on generated Markdown

_WORD = st.sampled_from(["rocket", "orbit", "oven", "flour", "bond", "stock", "the", "a", "is", "火箭", "面包"])
_SENTENCE = st.lists(_WORD, min_size=1, max_size=8).map(lambda ws: " ".join(ws) + ".")
_PARAGRAPH = st.lists(_SENTENCE, min_size=1, max_size=4).map(" ".join)
_CODE = st.lists(st.lists(_WORD, min_size=1, max_size=4).map(lambda ws: "    " + "_".join(ws) + "()"),
                 min_size=1, max_size=6).map(lambda lines: "```python\n" + "\n".join(lines) + "\n```")
_LIST = st.tuples(
    st.booleans(), st.lists(st.lists(_WORD, min_size=1, max_size=5).map(" ".join), min_size=1, max_size=5)
).map(lambda t: ("Steps:\n" if t[0] else "") + "\n".join(f"- {item}" for item in t[1]))
_TABLE = st.lists(st.tuples(_WORD, _WORD), min_size=1, max_size=4).map(
    lambda rows: "| k | v |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows))
_HEADING = st.tuples(st.integers(1, 3), _WORD).map(lambda t: "#" * t[0] + " " + t[1])
MARKDOWN = st.lists(st.one_of(_PARAGRAPH, _CODE, _LIST, _TABLE, _HEADING), min_size=1, max_size=8).map("\n\n".join)


def _regions(text: str) -> list[tuple[int, int, str]]:
    """Code blocks, tables and lists (with an introducing 'Steps:' line) as generated, found independently.

    Lists separated only by a blank line are one (loose) list, as in Markdown.
    """
    regions: list[tuple[int, int, str]] = []
    pos, previous_list = 0, False
    for part in text.split("\n\n"):
        is_list = part.startswith("- ")
        if is_list and previous_list:
            start = regions[-1][0]
            regions[-1] = (start, pos + len(part), text[start : pos + len(part)])
        elif part.startswith(("```", "- ", "Steps:", "|")):
            regions.append((pos, pos + len(part), part))
        previous_list = part.startswith(("- ", "Steps:"))
        pos += len(part) + 2
    return regions


@settings(max_examples=80, deadline=None)
@given(text=MARKDOWN, max_tokens=st.integers(4, 60), heading_path=st.booleans(), buffer_size=st.integers(0, 2))
def test_no_cut_inside_a_code_block_or_list_that_fits(doubles, text, max_tokens, heading_path, buffer_size) -> None:
    counter = doubles.word_counter
    chunker = SemanticChunker(doubles.HashEmbedder(), counter, max_tokens=max_tokens, min_tokens=1,
                              buffer_size=buffer_size, breakpoint_type="percentile", breakpoint_amount=50,
                              heading_path=heading_path)
    chunks = chunker.split(text)
    # bound (on the embedding text when heading_path is on) and exact, lossless offsets, as before
    position = 0
    for chunk in chunks:
        assert chunk.token_count == counter([chunk.embedding_text])[0] <= max_tokens
        assert text[chunk.start : chunk.end] == chunk.text and position <= chunk.start
        assert text[position : chunk.start].strip() == ""
        position = chunk.end
    assert text[position:].strip() == ""
    # no boundary strictly inside a block, unless the block alone (with its heading path) is over the bound
    cuts = [c.start for c in chunks[1:]]
    for start, end, block in _regions(text):
        inside = [q for q in cuts if start < q < end]
        if inside:  # the path "A > B" of p single-word titles counts 2p - 1 words
            worst = max(len(c.headings) for c in chunks) if heading_path else 0
            assert counter([block])[0] + 2 * worst > max_tokens, (block, inside)
