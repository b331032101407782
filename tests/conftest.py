"""Session-wide tiny models, built offline once (qwen3_vl_rag.testing), shared by the whole suite."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # a stray hub id must fail fast, not wait on the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # pytest -n N: the cores are shared out, not oversubscribed
    _per_worker = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_per_worker))

import numpy as np
import pytest
from PIL import Image

from qwen3_vl_rag.testing import build_tiny_text_model, build_tiny_vl_model


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def tiny_vl_path(tmp_path_factory):
    return build_tiny_vl_model(tmp_path_factory.mktemp("tiny-vl"))


@pytest.fixture(scope="session")
def tiny_vl_real_vocab_path(tmp_path_factory):
    return build_tiny_vl_model(tmp_path_factory.mktemp("tiny-vl-real"), real_vocab=True)


@pytest.fixture(scope="session")
def tiny_text_path(tmp_path_factory):
    return build_tiny_text_model(tmp_path_factory.mktemp("tiny-text"))


@pytest.fixture(scope="session")
def tiny_text_no_eos_path(tmp_path_factory):
    return build_tiny_text_model(tmp_path_factory.mktemp("tiny-text-no-eos"), append_eos=False)


@pytest.fixture(scope="session")
def vl_embedder(tiny_vl_path):
    from qwen3_vl_rag.core import Qwen3VLEmbedder

    return Qwen3VLEmbedder(str(tiny_vl_path))


@pytest.fixture(scope="session")
def text_embedder(tiny_text_path):
    from qwen3_vl_rag.core import Qwen3TextEmbedder

    return Qwen3TextEmbedder(str(tiny_text_path))


def random_image(seed: int, size=(96, 64), mode="RGB") -> Image.Image:
    """A deterministic noise image (width, height)."""
    channels = len(mode)
    pixels = np.random.RandomState(seed).randint(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels, mode=mode)


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "picture.png"
    random_image(1).save(path)
    return path


@pytest.fixture(scope="session")
def vl_reranker(tiny_vl_path):
    from qwen3_vl_rag.core import Qwen3VLReranker

    return Qwen3VLReranker(str(tiny_vl_path))


@pytest.fixture(scope="session")
def text_reranker(tiny_text_path):
    from qwen3_vl_rag.core import Qwen3Reranker

    return Qwen3Reranker(str(tiny_text_path))
