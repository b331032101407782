"""Property test: for any text and settings, the chunker's three guarantees hold."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qwen3_vl_rag.core.chunking import BREAKPOINT_TYPES, SemanticChunker

_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789", min_size=1, max_size=9)
_CJK = st.text(alphabet="你好世界中文测试数据模型向量检索分块语义", min_size=1, max_size=12)
_PUNCT = st.sampled_from(
    [".", "!", "?", ",", ";", "3.14", "e.g.", '"', ")", "。", "！", "？", "；", "，", "”"]
)
_SPACE = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u3000", " \n "])
TEXTS = st.lists(st.one_of(_WORDS, _CJK, _PUNCT, _SPACE), max_size=80).map("".join)


def non_ws(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


@settings(max_examples=150, deadline=None)
@given(
    text=TEXTS,
    max_tokens=st.integers(1, 24),
    min_fraction=st.floats(0.0, 0.99),
    buffer_size=st.integers(0, 2),
    kind=st.sampled_from(BREAKPOINT_TYPES),
    batch_size=st.integers(1, 6),
    counter_name=st.sampled_from(["char_counter", "word_counter", "newline_penalty_counter"]),
)
def test_bound_offsets_and_content_always_hold(
    doubles, text, max_tokens, min_fraction, buffer_size, kind, batch_size, counter_name
) -> None:
    counter = getattr(doubles, counter_name)
    embedder = doubles.HashEmbedder()
    chunker = SemanticChunker(
        embedder,
        counter,
        max_tokens=max_tokens,
        min_tokens=int(min_fraction * max_tokens),
        buffer_size=buffer_size,
        breakpoint_type=kind,
        breakpoint_amount=0.02 if kind == "absolute" else None,
        batch_size=batch_size,
    )
    chunks = chunker.split(text)

    # 1. the token bound, checked with the counter itself on the emitted text
    for chunk in chunks:
        assert chunk.token_count == counter([chunk.text])[0] <= max_tokens
    # 2. exact, ordered, non-overlapping offsets
    position = 0
    for chunk in chunks:
        assert position <= chunk.start < chunk.end <= len(text)
        assert text[chunk.start : chunk.end] == chunk.text
        assert text[position : chunk.start].strip() == ""  # only whitespace is skipped
        position = chunk.end
    assert text[position:].strip() == ""
    # 3. nothing lost: every non-whitespace character, in order
    assert "".join(non_ws(c.text) for c in chunks) == non_ws(text)
    # embedding batches never exceed batch_size
    assert all(size <= batch_size for size in embedder.calls)
