"""Issue 13, local side: lone surrogates, decompression bombs, 16-bit images, empty sources, frames of
different sizes, video files without decord. Each bad input is an ``InputError`` naming the caller's
index, before any forward pass; each good one gives what the model should see."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from qwen3_vl_rag.core import InputError
from qwen3_vl_rag.core.media import MediaOptions, load_image, open_image

from ..conftest import random_image
from .adversarial import ForwardCounter, bomb_png, gray16, gray16_as_8bit, png_bytes, write_video

SURROGATE = "a\ud800b"


def _bad(model, call, index: int, reason: str):
    """``call()`` raises an InputError for ``index`` mentioning ``reason``, with no forward pass."""
    with ForwardCounter(model) as forwards:
        with pytest.raises(InputError) as info:
            call()
    assert info.value.index == index, info.value
    assert reason in info.value.reason, info.value
    assert forwards.calls == 0
    return info.value


# -- item 1: text that cannot be encoded as UTF-8 -----------------------------------------------
def test_lone_surrogate_names_the_item_in_the_vl_embedder(vl_embedder):
    _bad(vl_embedder, lambda: vl_embedder.embed(["fine", {"text": "ok"}, SURROGATE]), 2, "not valid Unicode")
    _bad(vl_embedder, lambda: vl_embedder.embed(["fine", {"text": ["x", SURROGATE]}]), 1, "not valid Unicode")
    _bad(vl_embedder, lambda: vl_embedder.embed([{"text": "x", "instruction": SURROGATE}]), 0, "'instruction'")


def test_lone_surrogate_names_the_item_in_the_vl_reranker(vl_reranker):
    _bad(vl_reranker, lambda: vl_reranker.score("query", ["doc", "doc 2", SURROGATE]), 2, "not valid Unicode")
    _bad(vl_reranker, lambda: vl_reranker.score_pairs([("q", "d"), (SURROGATE, "d")]), 1, "not valid Unicode")


def test_lone_surrogate_names_the_item_in_the_text_models(text_embedder, text_reranker):
    _bad(text_embedder, lambda: text_embedder.embed(["fine", SURROGATE]), 1, "not valid Unicode")
    _bad(text_reranker, lambda: text_reranker.score_pairs([("q", "d"), ("q", SURROGATE)]), 1, "document")
    _bad(text_reranker, lambda: text_reranker.score_pairs([(SURROGATE, "d")]), 0, "query")


# -- item 2: decompression bombs ----------------------------------------------------------------
def test_decompression_bomb_is_an_input_error(vl_embedder, tmp_path):
    """A 1.3 KB PNG declaring 20000x20000: PIL's DecompressionBombError escaped the mapping before."""
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(20000, 20000))
    _bad(vl_embedder, lambda: vl_embedder.embed(["fine", {"image": str(path)}]), 1, "decoding limit")
    _bad(vl_embedder, lambda: vl_embedder.embed([bomb_png(20000, 20000)]), 0, "decoding limit")


def test_a_144_megapixel_palette_png_is_refused_from_its_header(vl_embedder, vl_reranker):
    """Under PIL's own bomb limit (179 MP), it decoded before (~700 MB for a 1 KB file)."""
    data = bomb_png(12000, 12000, palette=True)
    assert len(data) < 2000
    error = _bad(vl_embedder, lambda: vl_embedder.embed(["fine", data]), 1, "decoding limit")
    assert "12000x12000" in error.reason
    _bad(vl_reranker, lambda: vl_reranker.score("q", ["d", {"image": data}]), 1, "decoding limit")


def test_pixel_limit_is_documented_and_images_under_it_load():
    from qwen3_vl_rag.core.media import MAX_DECODE_PIXELS

    assert MAX_DECODE_PIXELS == 2**26
    options = MediaOptions(4096, 1843200, 7864320, 1.0, 64, 64)
    image = load_image(bomb_png(4000, 3000, rows=8), options)  # 12 MP, a normal photo size: resized
    assert image.size[0] * image.size[1] <= 1843200


# -- item 3: 16-bit grayscale -------------------------------------------------------------------
def test_16_bit_grayscale_is_scaled_not_clipped():
    options = MediaOptions(4096, 1843200, 7864320, 1.0, 64, 64)
    image = gray16()
    assert image.mode == "I;16"
    loaded = np.asarray(load_image(image, options))
    assert len(np.unique(loaded)) > 200  # before the fix: {0, 255}
    expected = np.asarray(load_image(gray16_as_8bit(image), options))
    assert np.abs(loaded.astype(int) - expected.astype(int)).max() <= 1


def test_16_bit_grayscale_embeds_like_its_8_bit_version(vl_embedder):
    image = gray16()
    vectors = vl_embedder.embed([image, gray16_as_8bit(image), png_bytes(image)])
    assert np.allclose(vectors[0], vectors[1], atol=1e-5)
    assert np.allclose(vectors[2], vectors[1], atol=1e-5)


@pytest.mark.parametrize("values, mode", [(np.full((8, 8), 3e5, np.float32), "F"),
                                         (np.full((8, 8), np.nan, np.float32), "F"),
                                         (np.full((8, 8), -3, np.int32), "I")])
def test_out_of_range_high_bit_depth_is_refused(vl_embedder, values, mode):
    image = Image.fromarray(values, mode=mode)
    _bad(vl_embedder, lambda: vl_embedder.embed(["fine", image]), 1, f"{mode}-mode image")


# -- empty sources, frames of different sizes ---------------------------------------------------
@pytest.mark.parametrize("item, reason", [
    ({"image": ""}, "empty string"),
    ({"image": "   "}, "empty string"),
    ({"image": b""}, "empty (0 bytes)"),
    ({"video": ""}, "empty string"),
])
def test_empty_sources_say_so(vl_embedder, item, reason):
    _bad(vl_embedder, lambda: vl_embedder.embed(["fine", item]), 1, reason)  # before: ". is a directory"


def test_frames_of_different_sizes_are_an_input_error(vl_embedder):
    frames = [random_image(i, size=(64, 48)) for i in range(3)] + [random_image(9, size=(48, 64))]
    error = _bad(vl_embedder, lambda: vl_embedder.embed(["fine", {"video": frames}]), 1, "differ in size")
    assert "frame 3 is 48x64" in error.reason


# -- video files without decord (ARM) -----------------------------------------------------------
@pytest.fixture
def without_decord(monkeypatch):
    """qwen-vl-utils as on an ARM machine: neither decord nor torchcodec, so its torchvision reader."""
    pytest.importorskip("av", reason="PyAV (dev extra) writes and reads the test video")
    from qwen_vl_utils import vision_process

    monkeypatch.setattr(vision_process, "get_video_reader_backend", lambda: "torchvision")
    monkeypatch.setitem(vision_process.VIDEO_READER_BACKENDS, "torchvision",
                        vision_process.VIDEO_READER_BACKENDS["torchvision"])


def test_video_files_are_read_with_pyav_without_decord(tiny_vl_path, tmp_path, without_decord):
    from qwen_vl_utils.vision_process import VIDEO_READER_BACKENDS

    from qwen3_vl_rag.core import Qwen3VLEmbedder

    registry = dict(VIDEO_READER_BACKENDS)
    video = write_video(tmp_path / "clip.mp4", frames=12, fps=4)
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), fps=2.0)
    vectors = embedder.embed([{"video": str(video)}, "text after"])  # before: no attribute read_video
    assert vectors.shape == (2, embedder.dimension) and np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    from qwen3_vl_rag.core.media import video_reader

    assert video_reader() == "pyav"
    assert VIDEO_READER_BACKENDS == registry  # the reader is passed per call: qwen-vl-utils' table is untouched


def test_pyav_decodes_what_fetch_video_decodes_with_it(tmp_path, without_decord, monkeypatch):
    """The per-call PyAV path resizes as qwen-vl-utils' fetch_video does with the same reader."""
    from qwen_vl_utils import fetch_video, vision_process

    from qwen3_vl_rag.core import media

    monkeypatch.setitem(vision_process.VIDEO_READER_BACKENDS, "torchvision", media.read_video_pyav)
    options = media.MediaOptions(4096, 1843200, 4 * 128 * 32 * 32, 2.0, 64, 64)
    probe = media.probe_video(str(write_video(tmp_path / "clip.mp4", frames=30, fps=10, size=(320, 240))), options)
    ours = media.load_video(probe, options).frames
    theirs, _ = fetch_video({"video": probe.source, **probe.request}, image_patch_size=16, return_video_metadata=True)
    assert ours.shape == theirs.shape and np.array_equal(ours.numpy(), theirs.numpy())


def test_pyav_samples_the_frames_decord_samples(tmp_path, without_decord):
    pytest.importorskip("decord")
    from qwen_vl_utils.vision_process import VIDEO_READER_BACKENDS

    from qwen3_vl_rag.core.media import read_video_pyav

    video = str(write_video(tmp_path / "clip.mp4", frames=30, fps=10))
    for request in ({"video": video, "fps": 2.0}, {"video": video, "fps": 1.0, "max_frames": 4},
                    {"video": video, "fps": 2.0, "video_start": 0.5, "video_end": 2.5}):
        ours, meta, fps = read_video_pyav(request)
        theirs, their_meta, their_fps = VIDEO_READER_BACKENDS["decord"](request)
        assert meta["frames_indices"] == their_meta["frames_indices"]
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        assert fps == pytest.approx(their_fps) and meta["fps"] == pytest.approx(their_meta["fps"])
        assert np.abs(ours.numpy().astype(int) - theirs.numpy().astype(int)).mean() < 3  # same frames


def test_open_image_reads_bytes_streams_and_arrays_under_the_limit():
    image = random_image(3)
    for source in (png_bytes(image), io.BytesIO(png_bytes(image)), np.asarray(image)):
        assert open_image(source).size == image.size


def test_messages_about_a_path_with_a_lone_surrogate_can_be_printed(vl_embedder):
    with pytest.raises(InputError) as info:
        vl_embedder.embed([{"image": "cat\ud800.png"}])
    str(info.value).encode("utf-8")  # a lone surrogate in the message would make print() fail
    assert "file not found" in info.value.reason and "\\ud800" in info.value.reason
