from __future__ import annotations

import math
from dataclasses import FrozenInstanceError
from itertools import pairwise

import numpy as np
import pytest

from qwen3_vl_rag.core.chunking import Chunk, SemanticChunker


def topics_of(chunk: Chunk, doubles) -> set[str]:
    words = chunk.text.lower().replace(".", " ").split()
    return {name for name, keys in doubles.TOPICS.items() if any(k in words for k in keys)}


def assert_exact_slices(text: str, chunks: list[Chunk]) -> None:
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
    for before, after in pairwise(chunks):
        assert before.end <= after.start
        assert text[before.end : after.start].strip() == ""


PLANTED = [("space", 8), ("cooking", 8), ("finance", 8)]


@pytest.mark.parametrize(
    ("kind", "amount", "buffer_size"),
    [
        ("absolute", 0.35, 1),
        ("percentile", 90, 1),
        ("percentile", None, 0),
        ("standard_deviation", None, 0),
        ("interquartile", None, 0),
        ("gradient", None, 0),
        ("absolute", 0.5, 0),
    ],
)
def test_planted_topic_shifts_are_found_and_nothing_else(doubles, kind, amount, buffer_size) -> None:
    text, _ = doubles.topic_document(PLANTED)
    chunker = SemanticChunker(
        doubles.TopicEmbedder(),
        doubles.word_counter,
        max_tokens=1000,
        min_tokens=1,
        buffer_size=buffer_size,
        breakpoint_type=kind,
        breakpoint_amount=amount,
    )
    chunks = chunker.split(text)
    assert_exact_slices(text, chunks)
    assert [topics_of(c, doubles) for c in chunks] == [{"space"}, {"cooking"}, {"finance"}]
    assert [c.text.count("Sentence") for c in chunks] == [8, 8, 8]


def test_windows_are_exact_source_slices_before_and_after_each_gap(doubles) -> None:
    text = "One rocket.\nTwo orbit.  Three planet."
    embedder = doubles.TopicEmbedder()
    SemanticChunker(embedder, doubles.word_counter, max_tokens=50, min_tokens=1).split(text)
    # gap 0: "One" | "Two Three"; gap 1: "One Two" | "Three"; each distinct window embedded once
    assert embedder.calls == [["One rocket.", "Two orbit.  Three planet.", "One rocket.\nTwo orbit.", "Three planet."]]


def test_the_strongest_gap_is_the_planted_shift_not_one_unit_before(doubles) -> None:
    text, _ = doubles.topic_document([("space", 5), ("cooking", 5)])
    chunker = SemanticChunker(doubles.TopicEmbedder(), doubles.word_counter, max_tokens=500, min_tokens=1)
    units = chunker._units(text)
    distances = chunker._distances([text], [units])[0]
    assert int(np.argmax(distances)) == 4 and distances[4] == pytest.approx(1.0)
    assert distances[3] < 0.5 and distances[5] < 0.5


def test_chunks_map_back_to_source_and_report_real_counts(doubles) -> None:
    text, _ = doubles.topic_document([("space", 30), ("finance", 25)])
    text = text.replace(" Sentence 7", "\n\nSentence 7")
    chunker = SemanticChunker(doubles.HashEmbedder(), doubles.word_counter, max_tokens=25, min_tokens=5)
    chunks = chunker.split(text)
    assert len(chunks) > 1
    assert_exact_slices(text, chunks)
    assert "".join(text.split()) == "".join("".join(c.text for c in chunks).split())
    for chunk in chunks:
        assert chunk.token_count == doubles.word_counter([chunk.text])[0] <= 25


def test_empty_and_whitespace_only_give_no_chunks_and_no_embedding(doubles) -> None:
    embedder = doubles.TopicEmbedder()
    chunker = SemanticChunker(embedder, doubles.word_counter)
    assert chunker.split("") == []
    assert chunker.split(" \n\t\u3000\n ") == []
    assert embedder.calls == []


def test_single_sentence_is_one_chunk_without_embedding(doubles) -> None:
    embedder = doubles.TopicEmbedder()
    chunker = SemanticChunker(embedder, doubles.word_counter, max_tokens=20, min_tokens=5)
    text = "  Just one short sentence here.  "
    assert chunker.split(text) == [Chunk("Just one short sentence here.", 2, 31, 5)]
    assert embedder.calls == []


def test_oversize_cjk_sentence_without_spaces_is_split_by_tokens(doubles) -> None:
    text = "这是一个没有任何空格也没有标点的很长很长很长的中文句子它必须被切开" * 3
    chunker = SemanticChunker(doubles.HashEmbedder(), doubles.char_counter, max_tokens=10, min_tokens=2)
    chunks = chunker.split(text)
    assert len(chunks) == math.ceil(len(text) / 10)
    assert "".join(c.text for c in chunks) == text
    assert_exact_slices(text, chunks)
    assert all(c.token_count == len(c.text) <= 10 for c in chunks)


def test_gradient_on_two_and_three_sentences(doubles) -> None:
    for text in [
        "The rocket flew.",
        "The rocket flew. The oven baked.",
        "The rocket flew. The oven baked. A bond fell.",
    ]:
        chunker = SemanticChunker(
            doubles.TopicEmbedder(),
            doubles.word_counter,
            max_tokens=100,
            min_tokens=1,
            breakpoint_type="gradient",
        )
        chunks = chunker.split(text)
        assert_exact_slices(text, chunks)
        assert " ".join(c.text for c in chunks) == text


def test_small_chunk_merges_into_the_more_similar_neighbour(doubles) -> None:
    space = " ".join(doubles.topic_sentence("space", i) for i in range(4))
    cooking = " ".join(doubles.topic_sentence("cooking", i) for i in range(4))
    leaning_cooking = "Rocket oven flour."  # 1 space keyword, 2 cooking keywords: closer to cooking
    leaning_space = "Rocket orbit flour."  # closer to space
    for bridge, expected_owner in [(leaning_cooking, "cooking"), (leaning_space, "space")]:
        text = f"{space} {bridge} {cooking}"
        chunker = SemanticChunker(
            doubles.TopicEmbedder(),
            doubles.word_counter,
            max_tokens=100,
            min_tokens=5,
            buffer_size=0,
            breakpoint_type="absolute",
            breakpoint_amount=0.05,
        )
        chunks = chunker.split(text)
        assert len(chunks) == 2
        owner = next(c for c in chunks if bridge in c.text)
        assert doubles.topic_sentence(expected_owner, 0) in owner.text
        assert all(c.token_count >= 5 for c in chunks)
        # Without the minimum, the 3-word bridge stands alone.
        alone = SemanticChunker(
            doubles.TopicEmbedder(),
            doubles.word_counter,
            max_tokens=100,
            min_tokens=0,
            buffer_size=0,
            breakpoint_type="absolute",
            breakpoint_amount=0.05,
        ).split(text)
        assert [c.text for c in alone] == [space, bridge, cooking]


def test_max_tokens_is_exact_even_when_counts_are_not_additive(doubles) -> None:
    # Sentences are one line each; the counter charges 5 tokens per newline inside a chunk.
    text = "\n".join(f"Line {i} rocket." for i in range(40))
    chunker = SemanticChunker(
        doubles.TopicEmbedder(),
        doubles.newline_penalty_counter,
        max_tokens=40,
        min_tokens=1,
        breakpoint_type="absolute",
        breakpoint_amount=1.5,  # no semantic breaks: size control only
    )
    chunks = chunker.split(text)
    assert_exact_slices(text, chunks)
    for chunk in chunks:
        assert chunk.token_count == doubles.newline_penalty_counter([chunk.text])[0] <= 40
    # The naive sum of sentence counts (12-13 each) would have allowed 3 per chunk; real counts allow 2.
    assert max(c.text.count("\n") for c in chunks) == 1


def test_embedder_is_called_in_batches_of_at_most_batch_size(doubles) -> None:
    text, _ = doubles.topic_document([("space", 11), ("finance", 10)])
    embedder = doubles.TopicEmbedder()
    SemanticChunker(embedder, doubles.word_counter, batch_size=4).split(text)
    sizes = [len(call) for call in embedder.calls]
    assert max(sizes) <= 4
    assert sum(sizes) == 22  # one window per sentence plus one, each embedded once
    assert len(sizes) == math.ceil(22 / 4)


def test_split_many_matches_split_and_shares_batches(doubles) -> None:
    texts = [
        doubles.topic_document([("space", 3), ("cooking", 3)])[0],
        "",
        "Solo rocket.",
        doubles.topic_document([("finance", 5), ("space", 4)])[0],
    ]
    embedder = doubles.TopicEmbedder()
    chunker = SemanticChunker(embedder, doubles.word_counter, max_tokens=40, min_tokens=1, batch_size=5)
    many = chunker.split_many(texts)
    assert len(embedder.calls) == math.ceil((6 + 1 + 9 + 1) / 5)
    assert many == [chunker.split(t) for t in texts]
    assert many[1] == [] and len(many[2]) == 1


def test_output_is_deterministic(doubles) -> None:
    text = doubles.topic_document([("space", 12), ("cooking", 9), ("finance", 14)])[0]
    chunker = SemanticChunker(doubles.HashEmbedder(), doubles.word_counter, max_tokens=30)
    assert chunker.split(text) == chunker.split(text)


def test_unnormalised_and_list_embeddings_are_accepted(doubles) -> None:
    class Scaled:
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return (doubles.TopicEmbedder().embed_documents(texts) * 7.5).tolist()

    text = doubles.topic_document(PLANTED)[0]
    kwargs = {"max_tokens": 1000, "min_tokens": 1, "breakpoint_type": "absolute", "breakpoint_amount": 0.15}
    assert SemanticChunker(Scaled(), doubles.word_counter, **kwargs).split(text) == SemanticChunker(
        doubles.TopicEmbedder(), doubles.word_counter, **kwargs
    ).split(text)


def test_chunk_is_frozen() -> None:
    chunk = Chunk("a", 0, 1, 1)
    with pytest.raises(FrozenInstanceError):
        chunk.text = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_tokens": 0}, ValueError, "max_tokens must be >= 1"),
        ({"max_tokens": 10, "min_tokens": 10}, ValueError, "min_tokens must be smaller than max_tokens"),
        ({"min_tokens": -1}, ValueError, "min_tokens must be >= 0"),
        ({"buffer_size": -1}, ValueError, "buffer_size must be >= 0"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"max_tokens": 5.5}, TypeError, "max_tokens must be an int"),
        ({"breakpoint_type": "kmeans"}, ValueError, "expected one of 'percentile', 'standard_deviation'"),
        ({"breakpoint_type": "percentile", "breakpoint_amount": 150}, ValueError, r"\[0, 100\]"),
    ],
)
def test_argument_errors(doubles, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        SemanticChunker(doubles.TopicEmbedder(), doubles.word_counter, **kwargs)


def test_default_min_tokens_adapts_to_small_max(doubles) -> None:
    assert SemanticChunker(doubles.TopicEmbedder(), doubles.word_counter).min_tokens == 32
    assert SemanticChunker(doubles.TopicEmbedder(), doubles.word_counter, max_tokens=8).min_tokens == 2


def test_bad_collaborators_are_reported(doubles) -> None:
    with pytest.raises(TypeError, match="embed_documents"):
        SemanticChunker(object(), doubles.word_counter)  # type: ignore[arg-type]

    class Short:
        def embed_documents(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts) - 1, 3))

    text = "One rocket. Two oven. Three bond."
    with pytest.raises(ValueError, match=r"returned 3 rows .* for 4 texts"):
        SemanticChunker(Short(), doubles.word_counter).split(text)
    with pytest.raises(ValueError, match="count_tokens returned 1 counts for 3 texts"):
        SemanticChunker(doubles.TopicEmbedder(), lambda texts: [1]).split(text)
    with pytest.raises(TypeError, match="not a single str"):
        SemanticChunker(doubles.TopicEmbedder(), doubles.word_counter).split_many("abc")
