"""Qwen3VLReranker: yes/no relevance of mixed-modal (query, document) pairs, batched, at official parity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import constants as C
from .encoding import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, Encoded
from .errors import InputError
from .inputs import Item, ItemInput, parse_item
from .local_model import LocalModel
from .media import MediaOptions
from .prefix_cache import shared_prefix_scores
from .prompts import chat_prompt, user_content
from .runtime import input_device, load_model
from .scoring import Pair, PairScorer, relevance, yes_no_head
from .vl_encoding import PromptRequest, VLEncoder


def _side(prefix: str, item: Item) -> str:
    """``<Query>:`` / ``\\n<Document>:`` then the item's videos, images and texts (``NULL`` when empty)."""
    if not (item.videos or item.images or item.texts):
        return prefix + C.EMPTY_ITEM_TEXT
    return prefix + user_content(len(item.videos), len(item.images), item.texts)


def render_rerank_prompt(instruction: str, query: Item, document: Item) -> str:
    """The official Qwen3-VL-Reranker prompt (the instruction is used verbatim, as officially)."""
    user = f"<Instruct>: {instruction}" + _side("<Query>:", query) + _side("\n<Document>:", document)
    return chat_prompt(C.RERANK_SYSTEM_PROMPT, user)


class Qwen3VLReranker(LocalModel, PairScorer):
    """Scores how well each document (text, image, video or mixed) answers a query.

    ``score`` returns P(yes) in [0, 1] per document. Pairs are sorted by length into token-budget
    batches (the official code runs one pair per forward pass); a pair's score does not depend on
    its batch. With ``reuse_query_prefix`` (default), the tokens shared by all pairs of one query are
    computed once and their KV cache reused for every text document of that query.
    """

    def __init__(
        self,
        model_name_or_path: str = "Qwen/Qwen3-VL-Reranker-2B",
        max_length: int = C.RERANK_MAX_LENGTH,
        min_pixels: int = C.MIN_PIXELS,
        max_pixels: int = C.MAX_PIXELS,
        total_pixels: int = C.TOTAL_PIXELS,
        fps: float = C.FPS,
        num_frames: int = C.NUM_FRAMES,
        max_frames: int = C.MAX_FRAMES,
        default_instruction: str = C.RERANK_DEFAULT_INSTRUCTION,
        *,
        device: str | None = None,
        torch_dtype: Any = None,
        dtype: Any = None,
        attn_implementation: str | None = None,
        device_map: str | dict | None = None,
        allow_urls: bool = False,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        show_progress: bool = False,
        reuse_query_prefix: bool = True,
        **model_kwargs: Any,
    ):
        from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

        self._configure(model_name_or_path, device=device, dtype=dtype if dtype is not None else torch_dtype,
                        attn_implementation=attn_implementation, device_map=device_map,
                        max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size, show_progress=show_progress)
        self.default_instruction = default_instruction
        self.reuse_query_prefix = reuse_query_prefix
        full = load_model(Qwen3VLForConditionalGeneration, self.model_name, self.runtime, **model_kwargs)
        processor = AutoProcessor.from_pretrained(self.model_name)
        media = MediaOptions(min_pixels, max_pixels, total_pixels, fps, num_frames, max_frames, allow_urls)
        self.encoder = VLEncoder(processor, media, max_length)
        # The official rule caps the prompt body at max_length, then re-appends the 5-token suffix.
        self.encoder.max_length = max_length + self.encoder.suffix_len
        self.head = yes_no_head(full.lm_head.weight, processor.tokenizer)
        self.model = full.model  # the backbone; the vocabulary-sized head is not needed
        del full

    # -- prompts ---------------------------------------------------------------------------------
    def _parse_pairs(self, pairs: Sequence[Pair]) -> list[tuple[Item, Item]]:
        parsed = []
        for index, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise InputError(index, "expected a (query, document) pair")
            query, document = (parse_item(side, index) for side in pair)
            parsed.append((query, document))
        return parsed

    def render_prompt(self, query: ItemInput, document: ItemInput, instruction: str | None = None) -> str:
        """The official prompt for one pair, before vision expansion (for inspection and tests)."""
        (q, d), = self._parse_pairs([(query, document)])
        return render_rerank_prompt(q.instruction or instruction or self.default_instruction, q, d)

    def encode(self, pairs: Sequence[Pair], instruction: str | None = None) -> list[Encoded]:
        """Validate, load media and tokenize every pair (no model work). Errors name the pair's index."""
        requests = []
        for index, (query, document) in enumerate(self._parse_pairs(pairs)):
            prompt = render_rerank_prompt(query.instruction or instruction or self.default_instruction,
                                          query, document)
            images = list(query.images) + list(document.images)
            videos = [(v, query.fps, query.max_frames) for v in query.videos]
            videos += [(v, document.fps, document.max_frames) for v in document.videos]
            requests.append(PromptRequest(index, prompt, images, videos))
        return self.encoder.encode(requests)

    # -- scoring ---------------------------------------------------------------------------------
    def _forward(self, batch: Sequence[Encoded]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return relevance(self._last_hidden(batch, self.encoder.tokenizer.pad_token_id,
                                               self.encoder.image_token_id, self.encoder.video_token_id), self.head)

    def score_pairs(self, pairs: Sequence[Pair], instruction: str | None = None,
                    show_progress: bool | None = None) -> np.ndarray:
        """P(yes) for many (query, document) pairs at once: float32 (N,), in input order.

        Pairs that share a query (the same string, or the same object) share its prefix computation when
        ``reuse_query_prefix`` is on and their documents are text; all other pairs run as plain batches.
        """
        encoded = self.encode(pairs, instruction)
        if not self.reuse_query_prefix:
            return self._score_encoded(encoded, show_progress)
        groups: dict[Any, list[int]] = {}
        for index, (query, _) in enumerate(pairs):
            groups.setdefault(query if isinstance(query, str) else id(query), []).append(index)
        out = np.empty(len(encoded), dtype=np.float32)
        plain: list[int] = []
        for indices in groups.values():
            scores = None
            if len(indices) > 1:
                with self._model_lock:
                    scores = shared_prefix_scores(
                        self.model, [encoded[i] for i in indices], lambda h: relevance(h, self.head),
                        self.encoder.tokenizer.pad_token_id, input_device(self.model), self.encoder.vision_ids,
                        self.encoder.image_token_id, self.encoder.video_token_id, self.max_batch_tokens,
                        self.max_batch_size,
                    )
            if scores is None:
                plain.extend(indices)
            else:
                out[indices] = scores
        if plain:
            out[plain] = self._score_encoded([encoded[i] for i in plain], show_progress)
        return out
