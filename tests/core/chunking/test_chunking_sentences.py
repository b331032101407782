from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qwen3_vl_rag.core.chunking import Span, split_sentences


def texts_of(text: str, **kwargs: bool) -> list[str]:
    spans = split_sentences(text, **kwargs)
    for span in spans:
        assert isinstance(span, Span)
    return [text[s:e] for s, e in spans]


def test_english_sentences_with_exact_offsets() -> None:
    text = "The cat sat.  The dog ran!   Did it? Yes."
    spans = split_sentences(text)
    assert spans == [Span(0, 12), Span(14, 26), Span(29, 36), Span(37, 41)]
    assert [text[s:e] for s, e in spans] == ["The cat sat.", "The dog ran!", "Did it?", "Yes."]


def test_decimals_urls_and_versions_do_not_split() -> None:
    text = "Pi is 3.14 and e is 2.718. See example.com or v1.2.3 now."
    assert texts_of(text) == ["Pi is 3.14 and e is 2.718.", "See example.com or v1.2.3 now."]


def test_common_abbreviations_initials_and_list_numbers_do_not_split() -> None:
    text = "Fruit, e.g. apples, i.e. food. Dr. Smith met J. Doe in the U.S. office.\n1. First item"
    assert texts_of(text) == [
        "Fruit, e.g. apples, i.e. food.",
        "Dr. Smith met J. Doe in the U.S. office.",
        "1. First item",
    ]


def test_closing_quotes_and_brackets_stay_with_the_sentence() -> None:
    text = 'He said "stop." Then (it ended.) Really?!) Ok.'
    assert texts_of(text) == ['He said "stop."', "Then (it ended.)", "Really?!)", "Ok."]


def test_chinese_splits_at_full_width_terminators_without_spaces() -> None:
    text = "今天天气很好。我们去公园吧！你想去吗？好的"
    assert texts_of(text) == ["今天天气很好。", "我们去公园吧！", "你想去吗？", "好的"]


def test_chinese_closing_quote_kept() -> None:
    text = "他说：“我来了。”然后走了。"
    assert texts_of(text) == ["他说：“我来了。”", "然后走了。"]


def test_mixed_chinese_and_english() -> None:
    text = "我喜欢Python. It is great。版本3.12很快！Try it?好的。"
    assert texts_of(text) == ["我喜欢Python.", "It is great。", "版本3.12很快！", "Try it?", "好的。"]


def test_latin_terminator_directly_followed_by_cjk_splits() -> None:
    assert texts_of("Hello!你好。OK.然后") == ["Hello!", "你好。", "OK.", "然后"]


def test_semicolon_is_optional() -> None:
    text = "第一点；第二点。"
    assert texts_of(text) == ["第一点；第二点。"]
    assert texts_of(text, split_on_semicolon=True) == ["第一点；", "第二点。"]


def test_line_and_paragraph_breaks_end_sentences() -> None:
    text = "Title without period\nFirst line\r\nsecond line\n\n  New paragraph starts here"
    assert texts_of(text) == [
        "Title without period",
        "First line\r\nsecond line",  # a hard wrap inside a sentence (lowercase continuation) joins
        "New paragraph starts here",
    ]


def test_empty_and_whitespace_only() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n\n\t  \u3000 ") == []


def test_spans_never_include_edge_whitespace() -> None:
    text = "  \u3000 Hello there.   \n\t Next one  "
    assert texts_of(text) == ["Hello there.", "Next one"]


_ATOMS = st.sampled_from(
    [
        "cat",
        "Dog",
        "3.14",
        " ",
        "  ",
        "\n",
        "\n\n",
        ".",
        "!",
        "?",
        ",",
        "。",
        "！",
        "？",
        "；",
        "你",
        "好",
        "世界",
        '"',
        "”",
        ")",
        "e.g.",
        "Dr.",
        "\t",
        "\u3000",
        "x",
        "1.",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ATOMS, max_size=40).map("".join), st.booleans())
def test_spans_partition_all_non_whitespace(text: str, semicolon: bool) -> None:
    spans = split_sentences(text, split_on_semicolon=semicolon)
    position = 0
    for start, end in spans:
        assert position <= start < end <= len(text)
        assert text[position:start].strip() == ""  # only whitespace between sentences
        assert not text[start].isspace() and not text[end - 1].isspace()
        # a line break inside a sentence is a single hard wrap before a lowercase letter
        for at in (i for i, ch in enumerate(text[start:end], start) if ch == "\n"):
            assert text.count("\n", start, end) == 1 and text[at + 1:].lstrip(" \t")[:1].islower()
        position = end
    assert text[position:].strip() == ""


def test_hard_wrapped_lines_stay_one_sentence():
    text = "Weather changes quickly, and a clear\nmorning can turn into a storm. Carry layers.\nNext line.\n\nnew para"
    spans = [text[s.start:s.end] for s in split_sentences(text)]
    assert spans == ["Weather changes quickly, and a clear\nmorning can turn into a storm.", "Carry layers.",
                     "Next line.", "new para"]


def test_lines_without_lowercase_continuation_still_split():
    text = "Title line\nThe body starts here.\n- item one\n- item two"
    assert [text[s.start:s.end] for s in split_sentences(text)] == [
        "Title line", "The body starts here.", "- item one", "- item two"]
