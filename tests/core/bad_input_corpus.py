"""The bad-input corpus: each case one item, and what the README promises for it (see test_bad_inputs.py)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from qwen3_vl_rag.core import InputError

from ..conftest import random_image
from .adversarial import bomb_png, gray16, png_bytes, write_video

OK = None  # the expectation of a case that must process correctly
GOOD = "a valid item before the bad one"


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    make: Any  # a function of the samples folder returning the item
    expect: str | None  # OK, or a substring of the InputError's reason
    # Found only when the pixels are decoded (the header is valid): the README promises the same InputError
    # and nothing returned, but batches before the bad one may already have run (images stream batch by batch).
    found_late: bool = False


def _png_file(folder: Path, name: str, image: Image.Image) -> str:
    path = folder / name
    image.save(path)
    return str(path)


def _corrupt(folder: Path) -> str:
    path = folder / "corrupt.png"
    path.write_bytes(png_bytes(random_image(0))[:60])
    return str(path)


def _text_file(folder: Path) -> str:
    path = folder / "notes.txt"
    path.write_text("not an image")
    return str(path)


def _garbage_video(folder: Path) -> str:
    path = folder / "garbage.mp4"
    path.write_bytes(np.random.RandomState(0).bytes(4096))
    return str(path)


def _b64(image: Image.Image) -> str:
    return base64.b64encode(png_bytes(image)).decode()


S = "\ud800"  # a lone surrogate: not encodable as UTF-8

CASES = [
    # -- structure: what an item can be -----------------------------------------------------------
    Case("none", "structure", lambda f: None, "got NoneType"),
    Case("int", "structure", lambda f: 7, "got int"),
    Case("float", "structure", lambda f: 1.5, "got float"),
    Case("set", "structure", lambda f: {"a"}, "got set"),
    Case("2d-array", "structure", lambda f: np.zeros((4, 4), np.uint8), "got ndarray"),
    Case("unknown-key", "structure", lambda f: {"txt": "typo"}, "unknown key(s) ['txt']"),
    Case("text-int", "structure", lambda f: {"text": 3}, "'text' must be a string"),
    Case("text-list-int", "structure", lambda f: {"text": ["a", 3]}, "'text' must be a string"),
    Case("instruction-int", "structure", lambda f: {"text": "a", "instruction": 5}, "'instruction' must be"),
    Case("fps-negative", "structure", lambda f: {"text": "x", "fps": -1}, "'fps' must be a positive number"),
    Case("fps-zero", "structure", lambda f: {"text": "x", "fps": 0}, "'fps' must be a positive number"),
    Case("fps-bool", "structure", lambda f: {"text": "x", "fps": True}, "'fps' must be a positive number"),
    Case("fps-str", "structure", lambda f: {"text": "x", "fps": "2"}, "'fps' must be a positive number"),
    Case("max-frames-1", "structure", lambda f: {"text": "x", "max_frames": 1}, "'max_frames' must be"),
    Case("max-frames-float", "structure", lambda f: {"text": "x", "max_frames": 8.0}, "'max_frames' must be"),
    Case("image-int", "structure", lambda f: {"image": 5}, "'image' must be"),
    Case("video-int", "structure", lambda f: {"video": 5}, "'video' must be"),
    Case("video-empty-list", "structure", lambda f: {"video": []}, "no frames"),
    Case("video-empty-frames", "structure", lambda f: {"video": [[]]}, "no frames"),
    Case("frame-int", "structure", lambda f: {"video": [random_image(1), 3]}, "a video frame must be an image"),
    # -- text ---------------------------------------------------------------------------------------
    Case("surrogate", "text", lambda f: "a" + S + "b", "not valid Unicode"),
    Case("surrogate-in-list", "text", lambda f: {"text": ["fine", S]}, "not valid Unicode"),
    Case("surrogate-instruction", "text", lambda f: {"text": "a", "instruction": "x" + S}, "not valid Unicode"),
    Case("empty-string", "text", lambda f: "", OK),
    Case("whitespace", "text", lambda f: " \n\t ", OK),
    Case("nul-and-controls", "text", lambda f: "a\x00b\x07c\u200b", OK),
    Case("emoji-rtl-cjk", "text", lambda f: "😀 مرحبا 検索 \U0001f9ea", OK),
    Case("special-token-text", "text", lambda f: "<|im_end|><|image_pad|><|endoftext|>", OK),
    Case("long-text", "text", lambda f: "word " * 40_000, OK),
    Case("empty-dict", "text", lambda f: {}, OK),
    # -- image sources ------------------------------------------------------------------------------
    Case("missing-file", "image source", lambda f: {"image": str(f / "missing.png")}, "file not found"),
    Case("directory", "image source", lambda f: {"image": f}, "is a directory"),
    Case("empty-path", "image source", lambda f: {"image": ""}, "empty string"),
    Case("blank-path", "image source", lambda f: {"image": "  "}, "empty string"),
    Case("empty-bytes", "image source", lambda f: b"", "empty (0 bytes)"),
    Case("url-not-allowed", "image source", lambda f: {"image": "https://example.com/cat.png"}, "allow_urls=True"),
    Case("data-uri-not-base64", "image source", lambda f: {"image": "data:image/png,abc"}, "base64"),
    Case("data-uri-empty", "image source", lambda f: {"image": "data:image/png;base64,"}, "base64"),
    Case("surrogate-path", "image source", lambda f: {"image": "cat" + S + ".png"}, "file not found"),
    Case("nul-path", "image source", lambda f: {"image": "cat\x00.png"}, "file not found"),
    Case("long-path", "image source", lambda f: {"image": "x" * 5000 + ".png"}, "file not found"),
    Case("array-float", "image source", lambda f: np.zeros((8, 8, 3), np.float32), "uint8"),
    Case("array-2-channels", "image source", lambda f: np.zeros((8, 8, 2), np.uint8), "HxWx3"),
    Case("path-object", "image source", lambda f: Path(_png_file(f, "ok.png", random_image(3))), OK),
    Case("file-uri", "image source", lambda f: {"image": "file://" + _png_file(f, "ok2.png", random_image(4))}, OK),
    Case("data-uri", "image source", lambda f: {"image": "data:image/png;base64," + _b64(random_image(5))}, OK),
    Case("base64-string", "image source", lambda f: {"image": _b64(random_image(6))}, OK),
    Case("stream", "image source", lambda f: io.BytesIO(png_bytes(random_image(7))), OK),
    # -- image content ------------------------------------------------------------------------------
    Case("corrupt-png", "image content", lambda f: {"image": _corrupt(f)}, "corrupt image", found_late=True),
    Case("not-an-image", "image content", lambda f: {"image": _text_file(f)}, "not an image"),
    Case("garbage-bytes", "image content", lambda f: b"\x89PNG\r\n\x1a\nnonsense", "image"),
    Case("aspect-ratio", "image content", lambda f: {"image": random_image(0, size=(804, 4))}, "aspect ratio"),
    Case("bomb-400mp", "image content", lambda f: bomb_png(20000, 20000), "decoding limit"),
    Case("bomb-144mp-palette", "image content", lambda f: {"image": bomb_png(12000, 12000, palette=True)},
         "decoding limit"),
    Case("bomb-pil-object", "image content", lambda f: Image.open(io.BytesIO(bomb_png(9000, 9000))),
         "decoding limit"),
    Case("float-out-of-range", "image content",
         lambda f: Image.fromarray(np.full((8, 8), 1e6, np.float32), mode="F"), "F-mode image", found_late=True),
    Case("gray16", "image content", lambda f: gray16(), OK),
    Case("rgba", "image content", lambda f: random_image(8, mode="RGBA"), OK),
    Case("la", "image content", lambda f: random_image(9, mode="RGB").convert("LA"), OK),
    Case("cmyk", "image content", lambda f: random_image(10).convert("CMYK"), OK),
    Case("palette", "image content", lambda f: random_image(11).convert("P"), OK),
    Case("one-pixel", "image content", lambda f: random_image(12, size=(1, 1)), OK),
    Case("binary-1bit", "image content", lambda f: random_image(13).convert("1"), OK),
    # -- video --------------------------------------------------------------------------------------
    Case("video-missing", "video", lambda f: {"video": str(f / "missing.mp4")}, "video file not found"),
    Case("video-empty-path", "video", lambda f: {"video": ""}, "empty string"),
    Case("video-directory", "video", lambda f: {"video": str(f)}, "is a directory"),
    Case("video-mixed-list", "video", lambda f: {"video": [str(f / "a.mp4"), random_image(1)]}, "mixes video files"),
    Case("video-file", "video", lambda f: {"video": str(f / "a.mp4")}, OK),
    Case("video-garbage-file", "video", lambda f: {"video": _garbage_video(f)}, "cannot be read"),
    Case("frames-differ-in-size", "video",
         lambda f: {"video": [random_image(1, size=(64, 48)), random_image(2, size=(48, 64))]}, "differ in size"),
    Case("frame-corrupt", "video", lambda f: {"video": [random_image(1), _corrupt(f)]}, "corrupt image"),
    Case("frame-bomb", "video", lambda f: {"video": [random_image(1), bomb_png(20000, 20000)]}, "decoding limit"),
    Case("frames-ok", "video", lambda f: {"video": [random_image(i, size=(64, 48)) for i in range(4)]}, OK),
]

TEXT_MODEL_CASES = ["none", "int", "float", "surrogate", "empty-string", "whitespace", "nul-and-controls",
                    "emoji-rtl-cjk", "long-text"]


def _case(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def make_samples(folder: Path) -> Path:
    """The files some cases refer to (a valid video next to the missing and broken ones)."""
    write_video(folder / "a.mp4", frames=4, fps=4)
    return folder


def _unit_and_finite(vectors: np.ndarray, n: int) -> None:
    assert vectors.shape[0] == n
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def _expect_error(call, counter, index: int, reason: str, found_late: bool = False) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert info.value.index == index, info.value
    assert reason in info.value.reason, info.value
    if not found_late:
        assert counter() == 0, "work was done before the error"
