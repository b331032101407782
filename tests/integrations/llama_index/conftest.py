"""Real LlamaIndex objects over the session's tiny models: adapters, documents with texts and images."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_index.core")

from ...conftest import random_image  # noqa: E402

TEXTS = [
    "Mountains rise above the valley. Hikers climb at dawn. The summit is cold and windy.",
    "Quarterly revenue grew by twelve percent. Sales in Europe doubled. Costs stayed flat.",
    "Solar panels turn sunlight into electricity. Inverters convert the current. Batteries store it.",
]


@pytest.fixture(scope="session")
def embed_model(vl_embedder):
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding

    return Qwen3VLEmbedding(embedder=vl_embedder)


@pytest.fixture(scope="session")
def splitter(text_embedder):
    from qwen3_vl_rag.integrations.llama_index import Qwen3SemanticSplitter

    return Qwen3SemanticSplitter(embedder=text_embedder, max_tokens=64)


@pytest.fixture(scope="session")
def image_paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("li-images")
    paths = []
    for seed in range(3):
        path = folder / f"picture{seed}.png"
        random_image(seed, size=(64 + 16 * seed, 64)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def documents(image_paths):
    from llama_index.core.schema import Document, ImageDocument

    texts = [Document(text=t, metadata={"file_name": f"doc{i}.txt"}) for i, t in enumerate(TEXTS)]
    images = [ImageDocument(image_path=p, metadata={"file_name": p.rsplit("/", 1)[-1]}) for p in image_paths]
    return texts + images
