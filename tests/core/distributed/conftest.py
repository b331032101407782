"""Inputs shared by the bulk-ingestion tests: a folder of texts, images and one corrupt image."""

from __future__ import annotations

import pytest

from ...conftest import random_image

pytest.importorskip("pyarrow", reason="bulk ingestion needs pyarrow (extra 'distributed', installed by 'dev')")

TEXTS = [f"text number {i}: the cat and the dog by the river" + " city" * i for i in range(14)]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    """14 text files, 6 images (two sizes) and one corrupt image, in nested folders."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "texts").mkdir()
    (root / "images" / "more").mkdir(parents=True)
    for i, text in enumerate(TEXTS):
        (root / "texts" / f"t{i:02d}.txt").write_text(text, encoding="utf-8")
    for i in range(6):
        folder = root / "images" / ("more" if i % 2 else "")
        random_image(i, size=(96, 64) if i < 3 else (64, 96)).save(folder / f"img{i}.png")
    (root / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n definitely not the rest of a png")
    (root / "notes.csv").write_text("not an item type")
    return root
