"""The Qwen chat wrapper every released prompt uses, and the official instruction normalisation."""

from __future__ import annotations

import unicodedata

PROMPT_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"  # closes every prompt; truncation keeps it


def chat_prompt(system: str, user: str, suffix: str = PROMPT_SUFFIX) -> str:
    """A system turn, a user turn and the generation prompt, as the Qwen chat templates render them."""
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}{suffix}"


def normalize_instruction(instruction: str | None, default: str) -> str:
    """A user instruction is stripped and gets a final '.' unless it ends in punctuation; the default is verbatim."""
    if instruction:
        instruction = instruction.strip()
        if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
            instruction += "."
    return instruction or default
