"""Semantic chunking: framework-free (pure Python + numpy), structure-aware, exact offsets, exact token bound.

Entry point: :class:`SemanticChunker`.  The building blocks are public too, for reuse and tests.
"""

from .breakpoints import BREAKPOINT_TYPES, DEFAULT_BREAKPOINT_AMOUNTS, BreakpointType, find_breakpoints
from .chunker import Chunk, DocumentEmbedder, SemanticChunker, heading_prefix
from .sentences import Span, split_sentences
from .structure import Block, Heading, parse_blocks
from .tokens import approximate_token_counter, token_counter_for, token_counter_from_tokenizer

__all__ = [
    "BREAKPOINT_TYPES",
    "DEFAULT_BREAKPOINT_AMOUNTS",
    "Block",
    "BreakpointType",
    "Chunk",
    "DocumentEmbedder",
    "Heading",
    "SemanticChunker",
    "Span",
    "approximate_token_counter",
    "find_breakpoints",
    "heading_prefix",
    "parse_blocks",
    "split_sentences",
    "token_counter_for",
    "token_counter_from_tokenizer",
]
