"""Rerank prompts: Qwen3-VL-Reranker's official prompt, the text Qwen3-Reranker presets, and the vLLM
chat template, all rendered from the same pieces so they cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass

from ..inputs import Item
from .chat import PROMPT_SUFFIX, chat_prompt
from .defaults import EMPTY_ITEM_TEXT, RERANK_DEFAULT_INSTRUCTION, RERANK_SYSTEM_PROMPT
from .vision import media_content

THINK_SUFFIX = PROMPT_SUFFIX + "<think>\n\n</think>\n\n"  # the text reranker's model-card generation prompt


def _content(item: Item) -> str:
    if not (item.videos or item.images or item.texts):
        return EMPTY_ITEM_TEXT
    return media_content(len(item.videos), len(item.images), item.texts)


def vl_rerank_user_turn(instruction: str, query: str, document: str) -> str:
    """``<Instruct>: {i}<Query>:{q}\\n<Document>:{d}`` (no spaces, as officially)."""
    return f"<Instruct>: {instruction}<Query>:{query}\n<Document>:{document}"


def vl_rerank_prompt(instruction: str, query: Item, document: Item) -> str:
    """The official Qwen3-VL-Reranker prompt (the instruction is used verbatim, as officially)."""
    return chat_prompt(RERANK_SYSTEM_PROMPT, vl_rerank_user_turn(instruction, _content(query), _content(document)))


def _vllm_chat_template() -> str:
    """The VL rerank prompt as a Jinja chat template for vLLM's score/rerank API.

    vLLM passes query and document as messages with roles ``query`` and ``document`` (multimodal
    placeholders already in their text) and ``instruction`` from the request. Rendered from
    ``vl_rerank_prompt``'s pieces with Jinja expressions in place of the three slots.
    """
    user = vl_rerank_user_turn(
        f"{{{{ instruction if instruction else '{RERANK_DEFAULT_INSTRUCTION}' }}}}", "{{ ns.query }}",
        "{{ ns.document }}",
    )
    # The suffix is an expression, not literal text: Jinja drops a template's final newline.
    suffix = "{{ " + repr(PROMPT_SUFFIX) + " }}"
    return (
        "{%- set ns = namespace(query='NULL', document='NULL') -%}"
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'query' -%}{%- set ns.query = message['content'] or 'NULL' -%}"
        "{%- elif message['role'] == 'document' -%}{%- set ns.document = message['content'] or 'NULL' -%}"
        "{%- endif -%}{%- endfor -%}" + chat_prompt(RERANK_SYSTEM_PROMPT, user, suffix)
    )


RERANK_CHAT_TEMPLATE = _vllm_chat_template()


@dataclass(frozen=True)
class TextRerankPreset:
    """A text Qwen3-Reranker prompt format: fixed prefix and suffix around a body with the three slots."""

    prefix: str
    body: str
    suffix: str

    def render(self, instruction: str, query: str, document: str) -> str:
        return self.prefix + self.body.format(instruction=instruction, query=query, document=document) + self.suffix


def _text_preset(body: str) -> TextRerankPreset:
    prefix = chat_prompt(RERANK_SYSTEM_PROMPT, "", suffix="")
    return TextRerankPreset(prefix, body, THINK_SUFFIX)


TEXT_RERANK_PRESETS = {
    # The Hugging Face model card (transformers) format: the default.
    "model-card": _text_preset("<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"),
    # The vLLM evaluation format behind the published MTEB-R numbers (Qwen3-Embedding #71).
    "vllm": _text_preset("<Instruct>: {instruction}\n\n<Query>: {query}\n\n<Document>: {document}"),
}
