"""Test doubles for the chunking tests: deterministic embedders and token counters.

They are real implementations of the two interfaces the chunker depends on (an object with
``embed_documents`` and a batch ``count_tokens``), small enough that their outputs are known.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

TOPICS: dict[str, tuple[str, ...]] = {
    "space": ("rocket", "orbit", "planet", "astronaut"),
    "cooking": ("recipe", "oven", "flour", "butter"),
    "finance": ("stock", "bond", "dividend", "market"),
}
_WORD = re.compile(r"[a-z]+")


class TopicEmbedder:
    """One dimension per topic; a text's vector counts its topic keywords.

    Similarities are therefore known in advance: windows about one topic are identical
    directions (distance 0), windows straddling a shift are in between.  Records every call.
    """

    def __init__(self, topics: dict[str, tuple[str, ...]] = TOPICS) -> None:
        self.topics = topics
        self.calls: list[list[str]] = []

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), len(self.topics)))
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            for col, keywords in enumerate(self.topics.values()):
                out[row, col] = sum(words.count(k) for k in keywords)
        return out


class HashEmbedder:
    """Bag of characters hashed into 16 buckets (plus a constant so no row is zero)."""

    def __init__(self, dim: int = 16) -> None:
        self.dim = dim
        self.calls: list[int] = []

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.ones((len(texts), self.dim))
        for row, text in enumerate(texts):
            for ch in text:
                out[row, (ord(ch) * 2654435761) % self.dim] += 1.0
        return out


def char_counter(texts: list[str]) -> list[int]:
    """One token per non-whitespace character (CJK-friendly, exactly additive)."""
    return [sum(1 for ch in t if not ch.isspace()) for t in texts]


def word_counter(texts: list[str]) -> list[int]:
    """One token per whitespace-separated word."""
    return [len(t.split()) for t in texts]


def newline_penalty_counter(texts: list[str]) -> list[int]:
    """Like ``char_counter`` but each newline costs 5 tokens.

    Sentences never contain newlines, so a chunk spanning lines counts *more* than the sum of
    its sentences: this forces the chunker's exact re-count / re-split path.
    """
    return [sum(1 for ch in t if not ch.isspace()) + 5 * t.count("\n") for t in texts]


def topic_sentence(topic: str, index: int) -> str:
    """A deterministic sentence mentioning exactly one keyword of ``topic``."""
    keywords = TOPICS[topic]
    return f"Sentence {index} talks about the {keywords[index % len(keywords)]} today."


def topic_document(plan: list[tuple[str, int]]) -> tuple[str, list[str]]:
    """Build a document from ``[(topic, n_sentences), ...]``; also return each sentence's topic."""
    sentences, labels = [], []
    for topic, count in plan:
        for _ in range(count):
            sentences.append(topic_sentence(topic, len(sentences)))
            labels.append(topic)
    return " ".join(sentences), labels


@pytest.fixture(scope="session")
def doubles() -> SimpleNamespace:
    return SimpleNamespace(
        TopicEmbedder=TopicEmbedder,
        HashEmbedder=HashEmbedder,
        char_counter=char_counter,
        word_counter=word_counter,
        newline_penalty_counter=newline_penalty_counter,
        topic_sentence=topic_sentence,
        topic_document=topic_document,
        TOPICS=TOPICS,
    )
