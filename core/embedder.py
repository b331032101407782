"""Qwen3VLEmbedder: Qwen3-VL-Embedding-2B/8B vectors for text, images, video and mixes, at official parity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import constants as C
from .encoding import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, Encoded
from .inputs import Item, ItemInput, parse_items
from .local_model import LocalEmbedder
from .media import MediaOptions
from .prompts import normalize_instruction, render_embedding_prompt
from .runtime import load_model
from .vl_encoding import PromptRequest, VLEncoder


class Qwen3VLEmbedder(LocalEmbedder):
    """Embeds text, images, videos and mixed items into one vector space.

    The constructor takes the official ``Qwen3VLEmbedder`` arguments unchanged, plus ``dimensions``
    (Matryoshka size), ``device``, batching and progress options. ``embed`` returns float32 unit
    vectors, one row per item, in input order.
    """

    def __init__(
        self,
        model_name_or_path: str = "Qwen/Qwen3-VL-Embedding-2B",
        max_length: int = C.VL_EMBED_MAX_LENGTH,
        min_pixels: int = C.MIN_PIXELS,
        max_pixels: int = C.MAX_PIXELS,
        total_pixels: int = C.TOTAL_PIXELS,
        fps: float = C.FPS,
        num_frames: int = C.NUM_FRAMES,
        max_frames: int = C.MAX_FRAMES,
        default_instruction: str = C.VL_EMBED_DEFAULT_INSTRUCTION,
        query_instruction: str = C.DEFAULT_QUERY_INSTRUCTION,
        *,
        dimensions: int | None = None,
        device: str | None = None,
        torch_dtype: Any = None,
        dtype: Any = None,
        attn_implementation: str | None = None,
        device_map: str | dict | None = None,
        allow_urls: bool = False,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        show_progress: bool = False,
        **model_kwargs: Any,
    ):
        from transformers import AutoProcessor, Qwen3VLModel

        self._configure(model_name_or_path, device=device, dtype=dtype if dtype is not None else torch_dtype,
                        attn_implementation=attn_implementation, device_map=device_map,
                        max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size, show_progress=show_progress)
        self.default_instruction = default_instruction
        self.query_instruction = query_instruction
        self.model = load_model(Qwen3VLModel, self.model_name, self.runtime, **model_kwargs)
        processor = AutoProcessor.from_pretrained(self.model_name)
        media = MediaOptions(min_pixels, max_pixels, total_pixels, fps, num_frames, max_frames, allow_urls)
        self.encoder = VLEncoder(processor, media, max_length)
        self._set_dimensions(int(self.model.config.text_config.hidden_size), dimensions)

    @property
    def tokenizer(self):
        """The text tokenizer (for chunk-size limits: ``token_counter_from_tokenizer(embedder.tokenizer)``)."""
        return self.encoder.tokenizer

    # -- prompts ---------------------------------------------------------------------------------
    def _instruction(self, item: Item, instruction: str | None) -> str:
        return normalize_instruction(item.instruction or instruction, self.default_instruction)

    def render_prompt(self, item: ItemInput, instruction: str | None = None) -> str:
        """The official prompt for one item, before vision expansion (for inspection and tests)."""
        return self._prompt(parse_items([item])[0], instruction)

    def _prompt(self, item: Item, instruction: str | None) -> str:
        return render_embedding_prompt(self._instruction(item, instruction), len(item.videos), len(item.images),
                                       item.texts)

    def encode(self, items: Sequence[ItemInput], instruction: str | None = None) -> list[Encoded]:
        """Validate, load media and tokenize every item (no model work)."""
        requests = []
        for index, item in enumerate(parse_items(items)):
            videos = [(v, item.fps, item.max_frames) for v in item.videos]
            requests.append(PromptRequest(index, self._prompt(item, instruction), item.images, videos))
        return self.encoder.encode(requests)

    def _pool(self, batch: Sequence[Encoded]):
        return self._last_hidden(batch, self.encoder.tokenizer.pad_token_id, self.encoder.image_token_id,
                                 self.encoder.video_token_id)

    @property
    def identity(self):
        """The vector space this embedder writes into (``core.identity.EmbeddingIdentity``)."""
        from .identity import EmbeddingIdentity, model_key

        return EmbeddingIdentity(model_key(self.model_name), self.dimension, frozenset({"text", "image", "video"}),
                                 "qwen3-vl-chat")
