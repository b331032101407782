"""Turn Qwen3-VL prompts with media into token ids and pixel tensors (shared by the VL embedder and reranker).

Every item is validated, every image header and video container read and every prompt tokenized before
any model work, so a bad item fails the call up front with its index; pixels are decoded later, batch by
batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial as partial_call
from typing import Any

from ..errors import InputError, MediaError, PromptTooLong
from ..formats.chat import PROMPT_SUFFIX
from ..formats.truncation import truncate_ids
from ..formats.vision import VISION_TOKENS, expand_vision, video_timestamps
from ..media import MediaOptions, VideoProbe, image_tokens, load_image, load_video, probe_image, probe_video
from .batches import Encoded


@dataclass
class PromptRequest:
    """A rendered prompt (one placeholder per image / video) and its media in prompt order."""

    index: int
    prompt: str
    images: Sequence[Any] = ()
    videos: Sequence[tuple[Any, float | None, int | None]] = field(default_factory=tuple)  # (source, fps, max_frames)
    uncapped_prompt: str | None = None  # the prompt before its texts were cut to a safe length (see inputs)


class VLEncoder:
    """Loads media with the processor's image/video processors and tokenizes expanded prompts."""

    def __init__(self, processor: Any, media: MediaOptions, max_length: int, *, limit_includes_suffix: bool = True):
        """``limit_includes_suffix=False`` is the official reranker's rule: the prompt body is capped at
        ``max_length`` and the 5-token generation suffix comes on top."""
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.media = media
        self.special_ids = set(self.tokenizer.all_special_ids)
        # 5 tokens with the released vocabulary (<|im_end|> \n <|im_start|> assistant \n)
        self.suffix_len = len(self.tokenizer(PROMPT_SUFFIX, add_special_tokens=False)["input_ids"])
        self.max_length = max_length if limit_includes_suffix else max_length + self.suffix_len
        self.merge = processor.image_processor.merge_size ** 2
        image_pad, video_pad, vision_start = (self.tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS)
        self.image_token_id, self.video_token_id = image_pad, video_pad
        self.vision_ids = {image_pad, video_pad, vision_start}
        # Frames arrive resized by qwen-vl-utils; newer transformers warn unless told about its cap.
        has_cap = hasattr(processor.video_processor, "cap_pixels_per_frame")
        self._video_kwargs = {"cap_pixels_per_frame": False} if has_cap else {}

    def _probe_images(self, sources: Sequence[Any]) -> tuple[list[Any], list[int]]:
        """(sources to load later, visual tokens of each), from the image headers alone."""
        probed = [probe_image(source, self.media.allow_urls, self.media.decode_limit, self.media)
                  for source in sources]
        return [source for source, _ in probed], [image_tokens(size, self.media) for _, size in probed]

    def _load_images(self, sources: Sequence[Any], expected_tokens: Sequence[int]) -> dict[str, Any]:
        """Decode, resize and patchify images (run when their batch is prepared)."""
        images = [load_image(source, self.media) for source in sources]
        out = self.processor.image_processor(images=images, do_resize=False, return_tensors="pt")
        grid = out["image_grid_thw"]
        tokens = (grid.prod(-1) // self.merge).tolist()
        if tokens != list(expected_tokens):
            raise MediaError(f"the decoded image has {tokens} visual tokens where its header promised "
                             f"{list(expected_tokens)} (a file changed during the call?)")
        return {"pixel_values": out["pixel_values"], "image_grid_thw": grid}

    def _probe_videos(self, sources: Sequence[tuple[Any, float | None, int | None]]
                      ) -> tuple[list[VideoProbe], Any, list[tuple[list[float], int]]]:
        """(probes to load later, their patch grid, their prompt layouts), from the containers alone."""
        if not sources:
            return [], None, []
        import torch

        probes = [probe_video(source, self.media, fps, max_frames) for source, fps, max_frames in sources]
        vp = self.processor.video_processor
        grid = torch.tensor([[len(p.frame_indices) // vp.temporal_patch_size, p.size[0] // vp.patch_size,
                              p.size[1] // vp.patch_size] for p in probes], dtype=torch.long)
        layouts = [(video_timestamps(p.frame_indices, p.fps), int(g[1] * g[2]) // self.merge)
                   for p, g in zip(probes, grid)]
        return probes, grid, layouts

    def _load_videos(self, probes: Sequence[VideoProbe], expected_grid: Any) -> dict[str, Any]:
        """Decode, resize and patchify videos (run when their batch is prepared)."""
        import torch

        pixel_parts, grids = [], []
        for probe in probes:
            video = load_video(probe, self.media)
            out = self.processor.video_processor(
                videos=[video.frames], do_resize=False, do_sample_frames=False, return_tensors="pt",
                **self._video_kwargs,
            )
            pixel_parts.append(out["pixel_values_videos"])
            grids.append(out["video_grid_thw"])
        grid = torch.cat(grids)
        if not torch.equal(grid, expected_grid):
            raise MediaError(f"the decoded video has the patch grid {grid.tolist()} where its container promised "
                             f"{expected_grid.tolist()} (a file changed during the call?)")
        return {"pixel_values_videos": torch.cat(pixel_parts), "video_grid_thw": grid}

    def _load_media(self, image_sources: Sequence[Any], image_tokens: Sequence[int],
                    video_probes: Sequence[VideoProbe], video_grid: Any) -> dict[str, Any]:
        """The pixel fields of one sequence (its ``Encoded.pending``)."""
        fields = self._load_images(image_sources, image_tokens) if image_sources else {}
        if video_probes:
            fields.update(self._load_videos(video_probes, video_grid))
        return fields

    def encode(self, requests: Sequence[PromptRequest]) -> list[Encoded]:
        """Check every item's media, expand and tokenize every prompt; errors name the request's index.

        Pixels are not loaded here: each ``Encoded`` carries them as ``pending``, sized from the image
        headers and the video containers (a video's grid is set already), and the Runner loads them batch
        by batch.
        """
        texts, partial, uncapped = [], [], {}
        for request in requests:
            try:
                image_sources, tokens = self._probe_images(request.images)
                probes, video_grid, video_layouts = self._probe_videos(request.videos)
            except MediaError as exc:
                raise InputError(request.index, str(exc)) from exc
            texts.append(expand_vision(request.prompt, tokens, video_layouts))
            if request.uncapped_prompt is not None:
                uncapped[len(texts) - 1] = expand_vision(request.uncapped_prompt, tokens, video_layouts)
            pending = (partial_call(self._load_media, image_sources, tokens, probes, video_grid)
                       if image_sources or probes else None)
            patches = self.merge * sum(tokens) + (int(video_grid.prod(-1).sum()) if video_grid is not None else 0)
            partial.append(Encoded([], None, None, None, video_grid, index=request.index, pending=pending,
                                   patches=patches))
        token_ids = self.tokenizer(texts)["input_ids"] if texts else []
        for position, full in uncapped.items():
            # A text cut to a safe number of characters that still fits max_length may have lost tokens the
            # model should see (a text of unusually long tokens): tokenize its whole prompt instead.
            if len(token_ids[position]) <= self.max_length:
                token_ids[position] = self.tokenizer(full)["input_ids"]
        for request, encoded, ids in zip(requests, partial, token_ids):
            try:
                encoded.ids = truncate_ids(ids, self.max_length, self.special_ids, self.suffix_len)
            except PromptTooLong as exc:
                raise InputError(request.index, str(exc)) from exc
        return partial
