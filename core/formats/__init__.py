"""What the released models expect: prompts, vision placeholders, truncation rule and default limits.

Strings and token ids only (no torch): the local engine and the remote backends render from here.
"""

from .chat import PROMPT_SUFFIX, chat_prompt, normalize_instruction
from .embedding import text_query_prompt, vl_embedding_prompt
from .rerank import RERANK_CHAT_TEMPLATE, TEXT_RERANK_PRESETS, TextRerankPreset, vl_rerank_prompt
from .truncation import truncate_ids
from .vision import expand_vision, media_content, video_timestamps

__all__ = [
    "PROMPT_SUFFIX",
    "RERANK_CHAT_TEMPLATE",
    "TEXT_RERANK_PRESETS",
    "TextRerankPreset",
    "chat_prompt",
    "expand_vision",
    "media_content",
    "normalize_instruction",
    "text_query_prompt",
    "truncate_ids",
    "video_timestamps",
    "vl_embedding_prompt",
    "vl_rerank_prompt",
]
