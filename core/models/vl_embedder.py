"""Qwen3VLEmbedder: Qwen3-VL-Embedding-2B/8B vectors for text, images, video and mixes, at official parity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..engine.batches import Encoded
from ..engine.runner import Runner
from ..engine.runtime import hub_kwargs, load_model
from ..engine.vl_encoder import PromptRequest, VLEncoder
from ..formats import defaults as D
from ..formats.embedding import vl_embedding_prompt
from ..identity import EmbeddingIdentity, model_key
from ..inputs import ItemInput, cap_item_texts, check_instruction, parse_items
from ..media import MediaOptions
from ._local import LocalEmbedder


class Qwen3VLEmbedder(LocalEmbedder):
    """Embeds text, images, videos and mixed items into one vector space.

    The constructor takes the official ``Qwen3VLEmbedder`` arguments unchanged, plus ``dimensions``
    (Matryoshka size), ``allow_urls``, the runtime options of ``engine.RuntimeOptions`` (``device``,
    ``dtype``/``torch_dtype``, ``attn_implementation``, ``device_map``, ``quantization``, ``max_batch_tokens``,
    ``max_batch_size``, ``show_progress``; ``tuning=EngineTuning(...)`` for the engine's knobs) and
    ``from_pretrained`` arguments (``cache_dir``, ``revision``, ``token``, ...). ``embed`` returns float32
    unit vectors, one row per item, in input order.
    """

    def __init__(
        self,
        model_name_or_path: str = "Qwen/Qwen3-VL-Embedding-2B",
        max_length: int = D.VL_EMBED_MAX_LENGTH,
        min_pixels: int = D.MIN_PIXELS,
        max_pixels: int = D.MAX_PIXELS,
        total_pixels: int = D.TOTAL_PIXELS,
        fps: float = D.FPS,
        num_frames: int = D.NUM_FRAMES,
        max_frames: int = D.MAX_FRAMES,
        default_instruction: str = D.VL_EMBED_DEFAULT_INSTRUCTION,
        query_instruction: str = D.DEFAULT_QUERY_INSTRUCTION,
        *,
        dimensions: int | None = None,
        allow_urls: bool = False,
        **kwargs: Any,
    ):
        from transformers import AutoProcessor, Qwen3VLModel

        model_kwargs = self._resolve(model_name_or_path, kwargs)
        self.default_instruction = default_instruction
        self.query_instruction = query_instruction
        model = load_model(Qwen3VLModel, self.model_name, self.runtime, ("qwen3_vl",), quantization=self.quantization,
                           **model_kwargs)
        processor = AutoProcessor.from_pretrained(self.model_name, **hub_kwargs(model_kwargs))
        media = MediaOptions(min_pixels, max_pixels, total_pixels, fps, num_frames, max_frames, allow_urls)
        self.encoder = VLEncoder(processor, media, max_length)
        self.runner = Runner(model, self._requested, self.runtime, self.encoder.tokenizer.pad_token_id,
                             self.encoder.image_token_id, self.encoder.video_token_id)
        self._set_dimensions(int(model.config.text_config.hidden_size), dimensions)

    @property
    def tokenizer(self) -> Any:
        """The text tokenizer (for chunk-size limits: ``token_counter_from_tokenizer(embedder.tokenizer)``)."""
        return self.encoder.tokenizer

    def render_prompt(self, item: ItemInput, instruction: str | None = None) -> str:
        """The official prompt for one item, before vision expansion (for inspection and tests)."""
        return vl_embedding_prompt(parse_items([item])[0], instruction, self.default_instruction)

    def encode(self, items: Sequence[ItemInput], instruction: str | None = None) -> list[Encoded]:
        """Validate, load media and tokenize every item (no model work)."""
        check_instruction(instruction)
        requests = []
        for index, item in enumerate(parse_items(items)):
            videos = [(v, item.fps, item.max_frames) for v in item.videos]
            capped = cap_item_texts(item, self.encoder.max_length)  # a 1M-character text is not tokenized whole
            prompt = vl_embedding_prompt(capped, instruction, self.default_instruction)
            uncapped = None if capped is item else vl_embedding_prompt(item, instruction, self.default_instruction)
            requests.append(PromptRequest(index, prompt, item.images, videos, uncapped))
        return self.encoder.encode(requests)

    @property
    def identity(self) -> EmbeddingIdentity:
        """The vector space this embedder writes into."""
        return EmbeddingIdentity(model_key(self.model_name), self.dimension, frozenset({"text", "image", "video"}),
                                 "qwen3-vl-chat", self.weights_fingerprint)
