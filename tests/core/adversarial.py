"""Adversarial inputs for the bad-input tests: PNG headers that declare huge sizes, high-bit-depth images,
videos, and a forward-pass counter."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 20000, height: int = 20000, palette: bool = False, rows: int = 64) -> bytes:
    """A valid PNG of ``width`` x ``height`` whose first ``rows`` rows are compressed zeros: a few KB
    that declare (and, if decoded, need) width x height pixels."""
    color_type, depth = (3, 8) if palette else (0, 8)
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    scanline = b"\x00" + b"\x00" * width
    data = zlib.compress(scanline * rows, 9)
    chunks = _chunk(b"IHDR", header)
    if palette:
        chunks += _chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff")
    return b"\x89PNG\r\n\x1a\n" + chunks + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def gray16(width: int = 96, height: int = 64) -> Image.Image:
    """A 16-bit grayscale gradient (PNG mode ``I;16``), values spread over 0..65535."""
    ramp = np.linspace(0, 65535, width * height).reshape(height, width).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")  # mode I;16
    buffer.seek(0)
    return Image.open(buffer)


def gray16_as_8bit(image: Image.Image) -> Image.Image:
    """What the model should see: the same picture scaled to 8 bits."""
    values = np.asarray(image).astype(np.float64)
    return Image.fromarray(np.round(values * 255 / 65535).astype(np.uint8), mode="L")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class ForwardCounter:
    """Counts real forward passes of a model (a hook on the real ``model`` module, not a mock)."""

    def __init__(self, *models):
        self.calls = 0
        self._handles = [m.model.register_forward_pre_hook(self._count) for m in models]

    def _count(self, *args, **kwargs):
        self.calls += 1

    def close(self):
        for handle in self._handles:
            handle.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_video(path, frames=8, fps=8, size=(64, 48)):
    """An mpeg4 file of noise frames, written with PyAV (dev extra)."""
    import av

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
