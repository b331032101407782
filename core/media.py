"""Load and resize images and videos exactly as the official Qwen3-VL code does (qwen-vl-utils).

Fixes over the official path: data URIs, raw bytes and base64 strings are accepted; URLs are fetched
only when the caller opts in; every failure is a ``MediaError`` with a reason (the caller adds the
item's index); ``total_pixels`` bounds video files too, not only frame lists; an image header that
declares more than ``MAX_DECODE_PIXELS`` is refused before any pixel is decoded (decompression bombs);
16-bit and float images are scaled to 8 bits (the official RGB conversion clips them to black and white);
video files are read with decord or torchcodec when installed, else with PyAV (ARM machines).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import importlib.util
import io
import logging
import re
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .errors import MediaError

if TYPE_CHECKING:
    from PIL import Image as PILImage

logger = logging.getLogger(__name__)

_BASE64_RE = re.compile(r"^[A-Za-z0-9+/=\s]+$")
_URL_TIMEOUT_S = 30

# Largest image (width x height, from its header) that is decoded at all: 2**26 = 67 megapixels, e.g.
# 8192 x 8192 or a 61-megapixel camera photo. Every image is resized to at most ``max_pixels`` (1.8
# megapixels by default) anyway; bigger sources only cost memory (a 144-megapixel PNG of 17 KB takes
# ~700 MB to decode). A ``max_pixels`` above this cap raises the cap to it.
MAX_DECODE_PIXELS = 2**26


@dataclass(frozen=True)
class MediaOptions:
    """Resolution and sampling settings shared by every item of a call."""

    min_pixels: int
    max_pixels: int
    total_pixels: int
    fps: float
    num_frames: int
    max_frames: int
    allow_urls: bool = False
    max_decode_pixels: int = MAX_DECODE_PIXELS

    @property
    def decode_limit(self) -> int:
        return max(self.max_decode_pixels, self.max_pixels)


@dataclass
class LoadedVideo:
    """Frames (T, C, H, W, float 0-255, already resized) and the timing the prompt needs."""

    frames: Any
    fps: float
    frame_indices: list[int]


@dataclass(frozen=True)
class VideoProbe:
    """A video as ``load_video`` will return it, found without decoding a frame (see ``probe_video``).

    ``source`` is what ``load_video`` reads later: a file location or URL, or the sampled frames (as
    ``probe_image`` returned them); ``request`` holds qwen-vl-utils' sampling options for it. The rest is
    the layout the prompt needs: the sampled frame indices, the fps their timestamps use, and the
    (height, width) of every frame after resizing.
    """

    source: Any
    request: dict[str, Any]
    frame_indices: list[int]
    fps: float
    size: tuple[int, int]

    @property
    def is_frame_list(self) -> bool:
        return isinstance(self.source, list)


def _describe(source: Any) -> str:
    text = str(source).encode("utf-8", "backslashreplace").decode("utf-8")  # printable, even with surrogates
    return text if len(text) <= 80 else text[:77] + "..."


def check_pixels(width: int, height: int, limit: int = MAX_DECODE_PIXELS) -> None:
    """Refuse an image whose header declares more than ``limit`` pixels, before it is decoded."""
    if width * height > limit:
        raise MediaError(f"image is {width}x{height} = {width * height:,} pixels, over the decoding limit of "
                         f"{limit:,} pixels (MAX_DECODE_PIXELS); downscale it first")


def _open_header(file: Any, what: str, limit: int) -> PILImage.Image:
    """``Image.open`` (reads the header only), every failure a ``MediaError``; the size checked against ``limit``."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(file)
    except UnidentifiedImageError as exc:
        raise MediaError(f"{what} is not an image (unknown format)") from exc
    except Image.DecompressionBombError as exc:  # PIL's own cap, above ours
        raise MediaError(f"{what} declares more pixels than the decoding limit of {limit:,} (MAX_DECODE_PIXELS): "
                         f"{exc}") from None
    except Exception as exc:  # noqa: BLE001 (a decoder may raise anything; all mean "corrupt")
        raise MediaError(f"{what} is a corrupt image ({type(exc).__name__}: {exc})") from exc
    check_pixels(*image.size, limit)
    return image


def _open_bytes(data: bytes, what: str, limit: int = MAX_DECODE_PIXELS) -> PILImage.Image:
    if not data:
        raise MediaError(f"{what} is empty (0 bytes)")
    image = _open_header(io.BytesIO(data), what, limit)
    try:
        image.load()
    except Exception as exc:  # noqa: BLE001 (OSError, ValueError, SyntaxError, struct.error, ...)
        raise MediaError(f"{what} is a corrupt image ({type(exc).__name__}: {exc})") from exc
    return image


def to_8bit(image: PILImage.Image) -> PILImage.Image:
    """8-bit images unchanged; 16-bit (``I;16*``), 32-bit integer (``I``) and float (``F``) grayscale
    scaled to 8-bit ``L`` by their value range (PIL's RGB conversion would clip them to {0, 255})."""
    from PIL import Image

    mode = image.mode
    if not (mode.startswith("I") or mode == "F"):
        return image
    values = np.asarray(image)
    if mode.startswith("I;16"):
        scale = 65535.0
    elif values.size and np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        raise MediaError(f"a {mode}-mode image has NaN or infinite pixels")
    else:
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if low < 0:
            raise MediaError(f"a {mode}-mode image has negative pixels (min {low:g}); scale it to 0-255 first")
        if mode == "F" and high <= 1.0:
            scale = 1.0
        elif high <= 255:
            scale = 255.0
        elif high <= 65535:
            scale = 65535.0
        else:
            raise MediaError(f"a {mode}-mode image has pixels up to {high:g}; scale it to 0-255 first")
    scaled = np.clip(np.round(values.astype(np.float64) * (255.0 / scale)), 0, 255).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long to be a path, a NUL byte, a lone surrogate
        return False


def _read_path(path: Path) -> bytes:
    if not _exists(path):
        raise MediaError(f"file not found: {_describe(path)}")
    if path.is_dir():
        raise MediaError(f"{_describe(path)} is a directory, not a file")
    return path.read_bytes()


def _fetch_url(url: str, allow_urls: bool) -> bytes:
    if not allow_urls:
        raise MediaError(f"URL {_describe(url)} not fetched: remote media is off; pass allow_urls=True to enable it")
    try:
        with urllib.request.urlopen(url, timeout=_URL_TIMEOUT_S) as response:  # noqa: S310 (opt-in)
            data: bytes = response.read()
            return data
    except OSError as exc:
        raise MediaError(f"could not fetch {_describe(url)} ({exc})") from exc


def open_image(source: Any, allow_urls: bool = False, limit: int = MAX_DECODE_PIXELS) -> PILImage.Image:
    """Decode an image source to an 8-bit PIL image (not yet resized); at most ``limit`` pixels."""
    from PIL import Image

    image = _open_source(source, allow_urls, limit)
    if isinstance(image, Image.Image):
        check_pixels(*image.size, limit)
    return to_8bit(image)


def _open_source(source: Any, allow_urls: bool, limit: int) -> PILImage.Image:
    from PIL import Image

    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        if source.ndim != 3 or source.shape[2] not in (3, 4) or source.dtype != np.uint8:
            raise MediaError(f"an image array must be HxWx3 or HxWx4 uint8, got {source.shape} {source.dtype}")
        check_pixels(source.shape[1], source.shape[0], limit)
        return Image.fromarray(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open_bytes(bytes(source), "the image bytes", limit)
    if isinstance(source, io.IOBase):
        return _open_bytes(source.read(), "the image stream", limit)
    if isinstance(source, Path):
        return _open_bytes(_read_path(source), _describe(source), limit)
    if not isinstance(source, str):
        raise MediaError(f"unsupported image type {type(source).__name__}")
    if not source.strip():
        raise MediaError("the image source is an empty string")
    if source.startswith("data:"):
        return _open_bytes(data_uri_bytes(source, "data:image/...;base64,..."), "the data URI", limit)
    if source.startswith(("http://", "https://")):
        return _open_bytes(_fetch_url(source, allow_urls), _describe(source), limit)
    path = Path(source[7:] if source.startswith("file://") else source)
    if len(source) >= 64 and _BASE64_RE.match(source) and not _exists(path):
        return _open_bytes(_b64decode(source), "the base64 string", limit)
    return _open_bytes(_read_path(path), _describe(source), limit)


def data_uri_bytes(uri: str, example: str) -> bytes:
    """The bytes of a base64 ``data:`` URI; ``example`` shows the expected form in the error."""
    header, _, payload = uri.partition(",")
    if ";base64" not in header or not payload:
        raise MediaError(f"a data URI must be base64 encoded ({example})")
    return _b64decode(payload)


def _b64decode(payload: str) -> bytes:
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise MediaError(f"invalid base64 data ({exc})") from exc


def load_image(source: Any, options: MediaOptions) -> PILImage.Image:
    """Open, convert to RGB (alpha composited on white) and resize with qwen-vl-utils' smart_resize.

    A PDF page (``documents.PdfPage``) is rendered at its final size, so the resize leaves it as it is."""
    from qwen_vl_utils import fetch_image

    from .documents import PdfPage, load_page

    image = (load_page(source, options) if isinstance(source, PdfPage)
             else open_image(source, options.allow_urls, options.decode_limit))
    try:
        return cast("PILImage.Image", fetch_image(
            {"image": image, "min_pixels": options.min_pixels, "max_pixels": options.max_pixels}, image_patch_size=16
        ))
    except ValueError as exc:  # aspect ratio over 200, sizes out of range
        raise MediaError(f"image cannot be resized: {exc}") from exc


def sample_frame_list(frames: list[Any], num_frames: int, max_frames: int) -> list[Any]:
    """The official frame-list sampling: linspace to ``num_frames`` indices, then at most ``max_frames``."""
    indices = np.linspace(0, len(frames) - 1, num_frames, dtype=int).tolist()
    return [frames[i] for i in indices][:max_frames]


def load_video(probe: VideoProbe, options: MediaOptions) -> LoadedVideo:
    """Decode and resize the frames ``probe`` planned, exactly as qwen-vl-utils' ``fetch_video`` does.

    A ``MediaError`` if the video cannot be read or does not match the probe (a file changed since).
    """
    from qwen_vl_utils import fetch_video

    if probe.is_frame_list:  # sampling repeats the frames of a short list: each is decoded once
        opened: dict[int, Any] = {}
        for frame in probe.source:
            if id(frame) not in opened:
                opened[id(frame)] = open_image(frame, options.allow_urls, options.decode_limit)
        video: Any = [opened[id(frame)] for frame in probe.source]
        what = "(frames)"
    else:
        video, what = probe.source, _describe(probe.source)
    try:
        if video is probe.source and video_reader() == "pyav":  # the reader passed per call, not registered
            frames, metadata = _fetch_video_pyav({"video": video, **probe.request})
        else:
            frames, metadata = fetch_video({"video": video, **probe.request}, image_patch_size=16,
                                           return_video_metadata=True)
    except MediaError:
        raise
    except Exception as exc:  # decoders raise many types; all mean "this video cannot be read"
        raise MediaError(f"video {what} cannot be read ({type(exc).__name__}: {exc})") from exc
    loaded = LoadedVideo(frames=frames, fps=float(metadata["fps"]), frame_indices=list(metadata["frames_indices"]))
    got = (loaded.frame_indices, loaded.fps, tuple(frames.shape[2:]))
    if got != (probe.frame_indices, probe.fps, probe.size):
        raise MediaError(f"video {what} decoded as frames {got[0]} at {got[1]:g} fps of {got[2]}, where its "
                         f"container promised frames {probe.frame_indices} at {probe.fps:g} fps of {probe.size} "
                         "(a file changed during the call?)")
    return loaded


def probe_video(source: Any, options: MediaOptions, fps: float | None = None,
                max_frames: int | None = None) -> VideoProbe:
    """What ``load_video`` will make of a video file, URL or frame list, read without decoding pixels.

    A file's frame count and fps come from the reader qwen-vl-utils will decode it with (decord and
    torchcodec read their index; PyAV its header, or counts the demuxed packets when the container
    declares no count), its frame size from the stream header; the sampled frames and the resized size
    then follow from qwen-vl-utils' own rules (``smart_nframes``, ``calculate_video_frame_range``,
    ``smart_resize``). A frame list needs only its frames' headers (``probe_image``).
    """
    if isinstance(source, (list, tuple)):
        return _probe_frame_list(source, options)
    import torch
    from qwen_vl_utils.vision_process import calculate_video_frame_range, smart_nframes

    location = _video_location(source, options.allow_urls)
    request = {
        "fps": fps or options.fps,
        "max_frames": max_frames or options.max_frames,
        "total_pixels": options.total_pixels,  # the official code drops this for files
    }
    backend = video_reader()
    try:
        total, video_fps, (width, height) = _container_metadata(location, backend)
        start, end, count = calculate_video_frame_range(request, total, video_fps)
        with _quiet_in_this_thread("qwen_vl_utils.vision_process"):  # the decode warns about it once
            nframes = smart_nframes(request, total_frames=count, video_fps=video_fps)
        size = _resized_frame(height, width, nframes, options.total_pixels)
    except MediaError:
        raise
    except Exception as exc:  # decoders raise many types; all mean "this video cannot be read"
        raise MediaError(f"video {_describe(source)} cannot be read ({type(exc).__name__}: {exc})") from exc
    indices = torch.linspace(start, end, nframes).round().long().tolist()  # as every qwen-vl-utils reader
    return VideoProbe(location, request, indices, video_fps, size)


@contextlib.contextmanager
def _quiet_in_this_thread(logger_name: str) -> Iterator[None]:
    """Drop ``logger_name``'s records from the calling thread only (other threads keep logging)."""
    thread = threading.get_ident()

    def other_threads(record: logging.LogRecord) -> bool:
        return record.thread != thread

    target = logging.getLogger(logger_name)
    target.addFilter(other_threads)
    try:
        yield
    finally:
        target.removeFilter(other_threads)


# qwen-vl-utils' fetch_video gives a frame list no timing: its frames are 0, 1, ... at this fps.
FRAME_LIST_FPS = 2.0


def _probe_frame_list(frames: Sequence[Any], options: MediaOptions) -> VideoProbe:
    from qwen_vl_utils.vision_process import FRAME_FACTOR, IMAGE_MAX_TOKEN_NUM, IMAGE_MIN_TOKEN_NUM, ceil_by_factor

    if not frames:
        raise MediaError("video has no frames")
    probed = [probe_image(frame, options.allow_urls, options.decode_limit) for frame in frames]
    sizes = [size for _, size in probed]
    if len(set(sizes)) > 1:
        other = next(i for i, size in enumerate(sizes) if size != sizes[0])
        raise MediaError(f"video frames differ in size: frame 0 is {sizes[0][0]}x{sizes[0][1]}, frame {other} "
                         f"is {sizes[other][0]}x{sizes[other][1]}; every frame of a video must have one size")
    sampled = sample_frame_list([source for source, _ in probed], options.num_frames, options.max_frames)
    nframes = ceil_by_factor(len(sampled), FRAME_FACTOR)  # fetch_video repeats the last frame to an even count
    # fetch_video first resizes each frame as an image, with a 64-pixel factor (it passes its 32-pixel
    # factor where fetch_image expects the 16-pixel patch), then the whole clip to the video budget.
    factor = 64
    width, height = sizes[0]
    try:
        height, width = _smart_resize(height, width, factor, IMAGE_MIN_TOKEN_NUM * factor**2,
                                      IMAGE_MAX_TOKEN_NUM * factor**2)
        size = _resized_frame(height, width, nframes, options.total_pixels)
    except ValueError as exc:  # aspect ratio over 200
        raise MediaError(f"video (frames) cannot be read (ValueError: {exc})") from exc
    return VideoProbe(sampled, {"total_pixels": options.total_pixels}, list(range(nframes)), FRAME_LIST_FPS, size)


def _smart_resize(height: int, width: int, factor: int, min_pixels: float, max_pixels: float) -> tuple[int, int]:
    from qwen_vl_utils import smart_resize

    return cast("tuple[int, int]", smart_resize(height, width, factor=factor, min_pixels=min_pixels,
                                                max_pixels=max_pixels))


def _resized_frame(height: int, width: int, nframes: int, total_pixels: int) -> tuple[int, int]:
    """fetch_video's frame size (height, width): 32-pixel multiples, 128-768 tokens, ``total_pixels`` per clip."""
    from qwen_vl_utils.vision_process import FRAME_FACTOR, VIDEO_MAX_TOKEN_NUM, VIDEO_MIN_TOKEN_NUM

    factor = 32
    min_pixels = VIDEO_MIN_TOKEN_NUM * factor * factor
    max_pixels = max(min(VIDEO_MAX_TOKEN_NUM * factor * factor, total_pixels / nframes * FRAME_FACTOR),
                     int(min_pixels * 1.05))
    return _smart_resize(height, width, factor, min_pixels, max_pixels)


def _container_metadata(location: str, backend: str) -> tuple[int, float, tuple[int, int]]:
    """(frame count, fps, (width, height)) of a video file as ``backend`` will read it; no frame is decoded
    except with decord when PyAV is missing (decord tells no size: its first frame does)."""
    # optional readers (decord comes with the [video] extra, torchcodec only if you install it): ``backend``
    # names the one qwen-vl-utils found installed (``video_reader``), so its module is imported only then
    if backend == "decord":
        reader = importlib.import_module("decord").VideoReader(location)
        size = _header_size(location)
        if size is None:
            height, width = reader[0].shape[:2]
            size = (int(width), int(height))
        return len(reader), float(reader.get_avg_fps()), size
    if backend == "torchcodec":
        metadata = importlib.import_module("torchcodec.decoders").VideoDecoder(location).metadata
        return int(metadata.num_frames), float(metadata.average_fps), (int(metadata.width), int(metadata.height))
    return _pyav_metadata(location)  # PyAV reads for "pyav" and for torchvision's read_video alike


def _header_size(location: str) -> tuple[int, int] | None:
    """(width, height) from the stream header (PyAV), or None without PyAV."""
    return _pyav_metadata(location, count=False)[2] if has_pyav() else None


def has_pyav() -> bool:
    return importlib.util.find_spec("av") is not None


def _pyav_metadata(location: str, count: bool = True) -> tuple[int, float, tuple[int, int]]:
    """(frame count, fps, (width, height)) from the container; a container that declares no frame count
    (Matroska, WebM) has its packets counted (demuxed, not decoded: milliseconds)."""
    import av

    path = location[7:] if location.startswith("file://") else location
    with av.open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        total = stream.frames
        if count and not total:
            total = sum(1 for packet in container.demux(stream) if packet.size)
        return total, fps, (int(stream.codec_context.width), int(stream.codec_context.height))


def video_reader() -> str:
    """The reader for video files: qwen-vl-utils' own (``torchcodec`` or ``decord`` when installed, else
    torchvision's ``read_video``), or ``pyav`` where torchvision no longer has ``read_video`` (torchvision
    >= 0.22; decord has no wheels for ARM): ``read_video_pyav``, passed per call (``_fetch_video_pyav``),
    never written into qwen-vl-utils' reader table. A ``MediaError`` if none works."""
    from qwen_vl_utils import vision_process

    backend = vision_process.get_video_reader_backend()
    if backend != "torchvision":
        return cast(str, backend)
    import torchvision.io

    if hasattr(torchvision.io, "read_video"):
        return "torchvision"
    if not has_pyav():
        raise MediaError("no video reader is installed: decord and torchcodec are missing and this torchvision "
                         "has no read_video; install PyAV (pip install av) or decord (pip install "
                         "'qwen3-vl-rag[video]', x86_64 only)")
    if not _told_pyav.is_set():
        _told_pyav.set()
        logger.info("decord and torchcodec are not installed: reading video files with PyAV")
    return "pyav"


_told_pyav = threading.Event()


def _fetch_video_pyav(ele: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """qwen-vl-utils' ``fetch_video`` for a file (``image_patch_size=16``) with ``read_video_pyav`` as its reader:
    the frames resized as it resizes them (``_resized_frame``: its rule for a request without pixel bounds)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.functional import resize

    video, metadata, _ = read_video_pyav(ele)
    nframes, _, height, width = video.shape
    size = _resized_frame(height, width, nframes, ele["total_pixels"])
    return resize(video, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True).float(), metadata

def read_video_pyav(ele: dict[str, Any]) -> tuple[Any, dict[str, Any], float]:
    """qwen-vl-utils' decord reader, with PyAV decoding: the same frame count (``smart_nframes``), the
    same indices (``linspace(start, end, n).round()``), TCHW uint8 frames, the same metadata."""
    import av
    import torch
    from qwen_vl_utils.vision_process import calculate_video_frame_range, smart_nframes

    path = ele["video"]
    path = path[7:] if path.startswith("file://") else path
    total, video_fps, _ = _pyav_metadata(path)
    if not total:
        raise MediaError("video has no frames")
    start, end, count = calculate_video_frame_range(ele, total, video_fps)
    nframes = smart_nframes(ele, total_frames=count, video_fps=video_fps)
    indices = torch.linspace(start, end, nframes).round().long().tolist()
    wanted, kept = set(indices), {}
    with av.open(path) as container:  # decode once more, keeping only the sampled frames
        for position, frame in enumerate(container.decode(container.streams.video[0])):
            if position in wanted:
                kept[position] = frame.to_ndarray(format="rgb24")
            if position >= indices[-1]:
                break
    if len(kept) != len(wanted):
        raise MediaError(f"video declares {total} frames but only {len(kept)} of the sampled ones decode")
    video = torch.from_numpy(np.stack([kept[i] for i in indices])).permute(0, 3, 1, 2)
    metadata = {"fps": video_fps, "frames_indices": indices, "total_num_frames": count, "video_backend": "pyav"}
    return video, metadata, nframes / max(count, 1e-6) * video_fps


def _video_location(source: Any, allow_urls: bool) -> str:
    text = str(source)
    if not text.strip():
        raise MediaError("the video source is an empty string")
    if text.startswith(("http://", "https://")):
        if not allow_urls:
            raise MediaError(f"URL {_describe(text)} not fetched: remote media is off; pass allow_urls=True")
        return text
    path = Path(text[7:] if text.startswith("file://") else text)
    if not _exists(path):
        raise MediaError(f"video file not found: {_describe(path)}")
    if path.is_dir():
        raise MediaError(f"{_describe(path)} is a directory, not a video file")
    return "file://" + str(path.resolve())


def probe_image(source: Any, allow_urls: bool = False, limit: int = MAX_DECODE_PIXELS,
                options: MediaOptions | None = None) -> tuple[Any, tuple[int, int]]:
    """(a source ``load_image`` can open later without fetching again, (width, height)), read from the header.

    Nothing is decoded: a call can size and sort thousands of images before any pixel is loaded. Files
    stay paths (re-read when their batch is prepared); streams and URLs are read once and kept as their
    compressed bytes; PIL images and arrays are returned as they are. A PDF page (``documents.PdfPage``)
    is sized from its point size and the pixel limits in ``options`` (its document opened, nothing rendered).
    """
    from PIL import Image

    from .documents import PdfPage, probe_page

    if isinstance(source, PdfPage):
        if options is None:
            raise MediaError("a PDF page is sized by the call's pixel limits: pass options to probe_image")
        return probe_page(source, options)
    if isinstance(source, Image.Image):
        check_pixels(*source.size, limit)
        return source, source.size
    if isinstance(source, np.ndarray):
        if source.ndim != 3 or source.shape[2] not in (3, 4) or source.dtype != np.uint8:
            raise MediaError(f"an image array must be HxWx3 or HxWx4 uint8, got {source.shape} {source.dtype}")
        check_pixels(source.shape[1], source.shape[0], limit)
        return source, (int(source.shape[1]), int(source.shape[0]))
    if isinstance(source, str) and not source.strip():
        raise MediaError("the image source is an empty string")
    what = "the image"
    if isinstance(source, io.IOBase):
        source, what = source.read(), "the image stream"
    elif isinstance(source, str) and source.startswith(("http://", "https://")):
        source, what = _fetch_url(source, allow_urls), _describe(source)
    elif isinstance(source, str) and source.startswith("data:"):
        header, _, payload = source.partition(",")
        if ";base64" not in header or not payload:
            raise MediaError("a data URI must be base64 encoded (data:image/...;base64,...)")
        source, what = _b64decode(payload), "the data URI"
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = bytes(source)
        if not source:
            raise MediaError(f"{what} is empty (0 bytes)")
        header_of: Any = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        text = str(source)
        path = Path(text[7:] if text.startswith("file://") else text)
        if isinstance(source, str) and len(text) >= 64 and _BASE64_RE.match(text) and not _exists(path):
            source = _b64decode(text)
            header_of, what = io.BytesIO(source), "the base64 string"
        else:
            if not _exists(path):
                raise MediaError(f"file not found: {_describe(path)}")
            if path.is_dir():
                raise MediaError(f"{_describe(path)} is a directory, not a file")
            header_of, what = path, _describe(source)
    else:
        raise MediaError(f"unsupported image type {type(source).__name__}")
    with _open_header(header_of, what, limit) as image:
        size: tuple[int, int] = image.size
    return source, size


def image_tokens(size: tuple[int, int], options: MediaOptions) -> int:
    """Visual tokens of an image of ``size`` (width, height) after the official smart_resize (32 px a token)."""
    from qwen_vl_utils import smart_resize

    width, height = size
    try:
        resized_height, resized_width = smart_resize(height, width, factor=32, min_pixels=options.min_pixels,
                                                     max_pixels=options.max_pixels)
    except ValueError as exc:  # aspect ratio over 200
        raise MediaError(f"image cannot be resized: {exc}") from exc
    return cast(int, (resized_height // 32) * (resized_width // 32))
