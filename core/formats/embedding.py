"""Embedding prompts: Qwen3-VL-Embedding's chat prompt and Qwen3-Embedding's query format."""

from __future__ import annotations

from ..inputs import Item
from .chat import chat_prompt, normalize_instruction
from .defaults import EMPTY_ITEM_TEXT
from .vision import media_content


def vl_embedding_prompt(item: Item, instruction: str | None, default_instruction: str) -> str:
    """The official Qwen3-VL-Embedding prompt for one item, before vision expansion.

    The item's own instruction wins over ``instruction``; either is normalised (stripped, final '.'),
    the default is used verbatim. An item with no content renders the text ``NULL``.
    """
    system = normalize_instruction(item.instruction or instruction, default_instruction)
    has_content = item.videos or item.images or item.texts
    content = media_content(len(item.videos), len(item.images), item.texts) if has_content else EMPTY_ITEM_TEXT
    return chat_prompt(system, content)


def text_query_prompt(task: str, query: str) -> str:
    """The official Qwen3-Embedding query format (no space after ``Query:``); documents are raw text."""
    return f"Instruct: {task}\nQuery:{query}"
