"""Video: files through qwen-vl-utils' reader with total_pixels enforced, frame lists as officially sampled."""

import numpy as np
import pytest

from qwen3_vl_rag.core import InputError, Qwen3VLEmbedder
from qwen3_vl_rag.core.media import sample_frame_list

from ..conftest import random_image

av = pytest.importorskip("av", reason="PyAV writes the test video (dev extra)")
pytest.importorskip("decord", reason="the video extra's reader (decord) reads video files")


def _write_video(path, frames=8, fps=8, size=(1280, 720)):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            pixels = np.random.RandomState(i).randint(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_video_file_is_bounded_by_total_pixels(tiny_vl_path, tmp_path):
    video = _write_video(tmp_path / "clip.mp4")
    total_pixels = 4 * 128 * 32 * 32  # small budget: qwen-vl-utils' per-frame floor applies
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), total_pixels=total_pixels, fps=8.0)
    encoded = embedder.encode([{"video": str(video), "text": "what happens"}])[0]
    t, h, w = encoded.video_grid_thw.tolist()[0]
    assert t == 4  # 8 frames in groups of 2
    per_frame_pixels = h * w * 16 * 16
    assert per_frame_pixels <= int(128 * 32 * 32 * 1.05)  # without the fix: up to 768*32*32
    vector = embedder.embed([{"video": str(video)}])
    assert vector.shape == (1, embedder.dimension) and np.isfinite(vector).all()
    tokenizer = embedder.encoder.tokenizer
    assert "<0.1 seconds><|vision_start|>" in tokenizer.decode(encoded.ids)  # frames 0,1 at 8 fps


def test_unreadable_video_file_names_the_item(vl_embedder, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(InputError) as info:
        vl_embedder.embed(["ok", {"video": str(broken)}])
    assert info.value.index == 1 and "cannot be read" in info.value.reason


def test_frame_lists_are_sampled_like_the_official_code():
    frames = list(range(10))
    assert sample_frame_list(frames, num_frames=4, max_frames=64) == [0, 3, 6, 9]
    # the official code resamples to num_frames even for short lists, then caps at max_frames
    assert sample_frame_list(frames[:3], num_frames=6, max_frames=4) == [0, 0, 0, 1]  # linspace 0,.4,.8,1.2


def test_several_videos_in_one_item(tiny_vl_path):
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), num_frames=2, max_frames=2)
    clip_a = [random_image(i, size=(64, 64)) for i in range(2)]
    clip_b = [random_image(10 + i, size=(64, 64)) for i in range(2)]
    both = embedder.encode([{"video": [clip_a, clip_b]}])[0]
    one = embedder.encode([{"video": clip_a}])[0]
    assert both.video_grid_thw.shape[0] == 2 and one.video_grid_thw.shape[0] == 1
    assert both.ids.count(embedder.encoder.video_token_id) == 2 * one.ids.count(embedder.encoder.video_token_id)
    assert embedder.render_prompt({"video": [clip_a, clip_b]}).count("<|video_pad|>") == 2
