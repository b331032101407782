"""Videos stream like images: the container (or the frames' headers) is read up front for the prompt's
layout; pixels are decoded batch by batch in the pipeline and checked against what the probe promised."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from qwen3_vl_rag.core import EngineTuning, InputError, Qwen3VLEmbedder
from qwen3_vl_rag.core.media import MediaOptions, open_image, probe_video, sample_frame_list, video_reader

from ..conftest import random_image
from .adversarial import write_video

pytest.importorskip("av", reason="PyAV writes the test videos (dev extra)")

OPTIONS = dict(min_pixels=4 * 32 * 32, max_pixels=1280 * 32 * 32, fps=2.0, num_frames=64, max_frames=64)


@pytest.fixture(params=["reader", "reader-without-pyav", "pyav"])
def backend(request, monkeypatch):
    """The installed reader (decord where it is), with and without PyAV (the video extra installs decord
    alone: PyAV's absence is faked), and PyAV as on an ARM machine (neither decord nor torchcodec). For
    the last, the official ``fetch_video`` gets ``read_video_pyav`` as its reader in this test only (the
    package passes it per call and writes nothing into qwen-vl-utils)."""
    from qwen_vl_utils import vision_process

    from qwen3_vl_rag.core import media

    if request.param == "reader-without-pyav":
        if video_reader() == "pyav":
            pytest.skip("the installed reader is PyAV")
        monkeypatch.setattr(media, "has_pyav", lambda: False)
    if request.param == "pyav":
        monkeypatch.setattr(vision_process, "get_video_reader_backend", lambda: "torchvision")
        monkeypatch.setitem(vision_process.VIDEO_READER_BACKENDS, "torchvision", media.read_video_pyav)
    return video_reader()


def _official(request: dict):
    """qwen-vl-utils' own fetch_video: (frame indices, fps, (height, width)) of what it decodes."""
    from qwen_vl_utils import fetch_video

    frames, metadata = fetch_video(request, image_patch_size=16, return_video_metadata=True)
    return list(metadata["frames_indices"]), float(metadata["fps"]), tuple(frames.shape[2:])


@pytest.mark.parametrize("name, frames, fps, size", [
    ("short.mp4", 8, 8, (64, 48)), ("long.mp4", 30, 10, (320, 240)), ("wide.mp4", 13, 5, (1280, 720)),
    ("tall.mp4", 3, 3, (30, 100)), ("no_count.mkv", 21, 7, (96, 64)),  # Matroska declares no frame count
])
@pytest.mark.parametrize("total_pixels, fps_request, max_frames", [
    (20480 * 32 * 32, None, None), (4 * 128 * 32 * 32, 8.0, None), (20480 * 32 * 32, 1.0, 4),
])
def test_probe_promises_what_the_official_reader_decodes(tmp_path, backend, name, frames, fps, size,
                                                         total_pixels, fps_request, max_frames):
    path = write_video(tmp_path / name, frames=frames, fps=fps, size=size)
    options = MediaOptions(**{**OPTIONS, "total_pixels": total_pixels})
    probe = probe_video(str(path), options, fps_request, max_frames)
    expected = _official({"video": "file://" + str(path.resolve()), "fps": fps_request or options.fps,
                          "max_frames": max_frames or options.max_frames, "total_pixels": total_pixels})
    assert (probe.frame_indices, probe.fps, probe.size) == expected


@pytest.mark.parametrize("count, size, num_frames, max_frames, total_pixels", [
    (7, (96, 64), 64, 64, 20480 * 32 * 32), (3, (64, 64), 6, 4, 20480 * 32 * 32), (10, (700, 300), 5, 64, 2**20),
    (1, (40, 1000), 64, 64, 20480 * 32 * 32),
])
def test_frame_list_probe_promises_what_the_official_code_makes(count, size, num_frames, max_frames, total_pixels):
    frames = [random_image(i, size=size) for i in range(count)]
    options = MediaOptions(**{**OPTIONS, "num_frames": num_frames, "max_frames": max_frames,
                              "total_pixels": total_pixels})
    probe = probe_video(frames, options)
    sampled = sample_frame_list([open_image(f) for f in frames], num_frames, max_frames)
    assert (probe.frame_indices, probe.fps, probe.size) == _official({"video": sampled, "total_pixels": total_pixels})


class ReaderLog:
    """Wraps the real video reader (no mock): which thread decoded which file, among forwards."""

    def __init__(self, monkeypatch):
        from qwen_vl_utils import vision_process

        from qwen3_vl_rag.core import media

        backend = video_reader()
        self.events: list[tuple[str, str]] = []
        if backend == "pyav":
            self.reader = media.read_video_pyav
            monkeypatch.setattr(media, "read_video_pyav", self._read)
        else:
            self.reader = vision_process.VIDEO_READER_BACKENDS[backend]
            monkeypatch.setitem(vision_process.VIDEO_READER_BACKENDS, backend, self._read)

    def _read(self, ele):
        self.events.append(("decode", threading.current_thread().name))
        return self.reader(ele)

    def forward(self, stats):
        self.events.append(("forward", threading.current_thread().name))


def test_video_pixels_are_decoded_batch_by_batch_in_the_pipeline(tiny_vl_path, tmp_path, monkeypatch):
    """Before: every video of a call was decoded in ``encode``, in the caller's thread, before any forward."""
    log = ReaderLog(monkeypatch)
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), fps=8.0, max_batch_size=1,
                               tuning=EngineTuning(prefetch_batches=1, host_workers=1))
    items = [{"video": str(write_video(tmp_path / f"clip{i}.mp4", frames=8 + 2 * i))} for i in range(5)]
    encoded = embedder.encode(items)
    assert log.events == []  # the containers were read, no frame was decoded
    assert all(e.pixel_values_videos is None and e.pending is not None for e in encoded)
    assert [e.video_grid_thw.tolist()[0][0] for e in encoded] == [4, 5, 6, 7, 8]  # the layout is known already
    embedder.on_batch(log.forward)
    vectors = embedder.embed(items)
    assert vectors.shape == (5, embedder.dimension) and np.isfinite(vectors).all()
    decodes = [thread for event, thread in log.events if event == "decode"]
    assert len(decodes) == 5 and all(t.startswith("qwen3-rag-media") for t in decodes)
    for position, (event, _) in enumerate(log.events):
        if event == "forward":  # at most this batch and the prefetched one are decoded ahead
            forwards = [e for e, _ in log.events[: position + 1]].count("forward")
            assert [e for e, _ in log.events[:position]].count("decode") <= forwards + 1


def _swap_after_first_forward(embedder, path, content: bytes):
    def hook(stats):
        if not hook.done:
            path.write_bytes(content)
            hook.done = True

    hook.done = False
    return embedder.on_batch(hook)


@pytest.mark.parametrize("replacement, reason", [
    ("garbage", "cannot be read"),
    ("other_size", "changed during the call"),
    ("fewer_frames", "changed during the call"),
])
def test_a_video_that_fails_later_names_its_item_and_returns_nothing(tiny_vl_path, tmp_path, replacement, reason):
    """The container is fine when the call starts; the file changes before its batch is decoded."""
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), max_batch_size=1, tuning=EngineTuning(prefetch_batches=1))
    paths = [write_video(tmp_path / f"clip{i}.mp4", frames=8) for i in range(5)]
    other = {"garbage": None, "other_size": dict(frames=8, size=(96, 96)), "fewer_frames": dict(frames=4)}[replacement]
    content = b"not a video any more" if other is None else write_video(tmp_path / "other.mp4", **other).read_bytes()
    forwards = []
    embedder.on_batch(forwards.append)
    _swap_after_first_forward(embedder, paths[3], content)
    with pytest.raises(InputError) as error:
        embedder.embed([{"video": str(p)} for p in paths])  # equal lengths: batches in input order
    assert error.value.index == 3 and reason in error.value.reason, error.value
    assert len(forwards) == 3  # stopped at the bad batch


def test_a_frame_that_fails_to_decode_later_names_its_item(vl_embedder):
    """A frame list's headers are read up front; a frame whose pixel data is cut fails in the pipeline."""
    buffer = io.BytesIO()
    random_image(0, size=(64, 64)).save(buffer, format="JPEG")
    truncated = buffer.getvalue()[: len(buffer.getvalue()) // 3]
    frames = [random_image(i, size=(64, 64)) for i in range(3)] + [truncated]
    assert vl_embedder.encode([{"video": frames}])[0].pending is not None  # the header passed
    with pytest.raises(InputError) as error:
        vl_embedder.embed(["fine", {"image": random_image(5)}, {"video": frames}])
    assert error.value.index == 2
    assert "truncated" in error.value.reason or "corrupt" in error.value.reason, error.value


def test_each_frame_of_a_short_list_is_read_once(vl_embedder, tmp_path):
    """Sampling repeats the frames of a list shorter than num_frames; each file is still read once."""
    from pathlib import Path

    reads: list[str] = []

    class CountingPath(type(Path())):
        def read_bytes(self):
            reads.append(self.name)
            return super().read_bytes()

    frames = []
    for i in range(3):
        random_image(i, size=(64, 64)).save(tmp_path / f"frame{i}.png")
        frames.append(CountingPath(tmp_path / f"frame{i}.png"))
    assert len(sample_frame_list(frames, vl_embedder.encoder.media.num_frames, 64)) > 3
    vl_embedder.embed([{"video": [frames]}])  # a list of one frame list (a bare list of paths is a list of files)
    assert sorted(reads) == ["frame0.png", "frame1.png", "frame2.png"]


def test_a_mixed_call_gives_each_item_its_own_vector(tiny_vl_path, tmp_path):
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), max_batch_size=3)
    clip = str(write_video(tmp_path / "clip.mp4", frames=12, fps=4, size=(96, 64)))
    other = str(write_video(tmp_path / "other.mkv", frames=9, fps=3, size=(64, 96)))
    frames = [random_image(10 + i, size=(80, 48)) for i in range(5)]
    items = [
        "plain text", {"video": clip}, {"image": random_image(1), "text": "a caption"}, {"video": frames},
        {"video": [other, frames[:2]], "text": "two clips"}, {"image": random_image(2, size=(200, 100))},
        {"video": clip, "fps": 1.0, "text": "slow"}, {"video": other, "image": random_image(3), "text": "both"},
    ]
    alone = np.stack([embedder.embed([item])[0] for item in items])
    np.testing.assert_allclose(embedder.embed(items), alone, atol=1e-5)


def test_a_short_video_warns_once_not_at_the_probe_too(tiny_vl_path, tmp_path, caplog):
    """qwen-vl-utils warns when the requested fps asks for more frames than the file has. The probe applies
    the same rule up front; only the decode (on a pipeline thread) reports it."""
    path = write_video(tmp_path / "short.mp4", frames=4, fps=2, size=(64, 48))
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), fps=8.0)
    with caplog.at_level("WARNING", logger="qwen_vl_utils.vision_process"):
        embedder.embed([{"video": str(path)}])
    warnings = [r for r in caplog.records if "smart_nframes" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].thread != threading.get_ident()
