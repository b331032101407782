"""Qwen3VLEmbeddings: lazy loading, parity with the core embedder, images / video / mixed items, a vector store."""

from __future__ import annotations

import base64
import io
import socket
import threading

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import ValidationError

from qwen3_vl_rag.integrations._lazy import LazyModel
from qwen3_vl_rag.integrations.langchain import Qwen3VLEmbeddings

from ...conftest import random_image

TEXTS = ["A dog runs on the beach.", "Quarterly revenue grew in the east.", "Solar panels make electricity."]


@pytest.fixture(scope="module")
def embeddings(vl_embedder):
    return Qwen3VLEmbeddings(embedder=vl_embedder)


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("lc-images")
    paths = []
    for seed in range(3):
        path = root / f"img{seed}.png"
        random_image(seed, size=(64 + 32 * seed, 64)).save(path)
        paths.append(str(path))
    return paths


def _is_float_matrix(vectors, rows, dim):
    return (isinstance(vectors, list) and len(vectors) == rows
            and all(isinstance(v, list) and len(v) == dim for v in vectors)
            and all(type(x) is float for v in vectors for x in v))


# -- construction ------------------------------------------------------------------------------------
@pytest.mark.disable_socket
@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_constructing_loads_nothing_and_needs_no_network(tmp_path):
    with pytest.raises(Exception, match="socket"):  # pytest-socket really blocks the network here
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("127.0.0.1", 9))
    hub = Qwen3VLEmbeddings(model="Qwen/Qwen3-VL-Embedding-8B", dimensions=1024, lazy=True,
                            model_kwargs={"attn_implementation": "flash_attention_2"})
    assert hub.model_name == "Qwen/Qwen3-VL-Embedding-8B"
    missing = Qwen3VLEmbeddings(model_name=str(tmp_path / "no-such-model"), lazy=True)
    with pytest.raises(OSError):  # with lazy=True the weights are looked for on first use only
        missing.embed_query("hello")
    with pytest.raises(OSError):  # by default they load at construction (as in the LlamaIndex adapter)
        Qwen3VLEmbeddings(model_name=str(tmp_path / "no-such-model"))


def test_lazy_load_happens_once_across_threads():
    calls = []
    barrier = threading.Barrier(8)

    def factory():
        calls.append(1)
        threading.Event().wait(0.05)  # widen the race window
        return object()

    lazy = LazyModel(factory)
    seen = []

    def worker():
        barrier.wait()
        seen.append(lazy.get())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(x) for x in seen}) == 1


def test_embedder_and_model_name_conflict(vl_embedder):
    with pytest.raises(ValidationError, match="not both"):
        Qwen3VLEmbeddings(embedder=vl_embedder, model_name="Qwen/Qwen3-VL-Embedding-2B")
    with pytest.raises(ValidationError, match="not both"):
        Qwen3VLEmbeddings(embedder=vl_embedder, model_kwargs={"max_pixels": 1000})
    with pytest.raises(ValidationError):
        Qwen3VLEmbeddings(model_nam="typo", lazy=True)  # unknown arguments are refused
    with pytest.raises(ValidationError):
        Qwen3VLEmbeddings(dimensions=0)
    with pytest.raises(ValidationError, match="interface"):
        Qwen3VLEmbeddings(embedder=object())


def test_loaded_from_a_directory_matches_the_core(tiny_vl_path, vl_embedder):
    lc = Qwen3VLEmbeddings(model_name=str(tiny_vl_path))
    np.testing.assert_allclose(lc.embed_documents(TEXTS), vl_embedder.embed_documents(TEXTS), atol=1e-6)
    assert lc.client.model_name == str(tiny_vl_path)


# -- parity with the core ----------------------------------------------------------------------------
def test_documents_and_queries_use_the_core_instructions(embeddings, vl_embedder):
    docs = embeddings.embed_documents(TEXTS)
    assert _is_float_matrix(docs, 3, vl_embedder.dimension)
    np.testing.assert_allclose(docs, vl_embedder.embed_documents(TEXTS), atol=1e-6)
    query = embeddings.embed_query(TEXTS[0])
    assert isinstance(query, list) and all(type(x) is float for x in query)
    np.testing.assert_allclose(query, vl_embedder.embed_queries([TEXTS[0]])[0], atol=1e-6)
    assert not np.allclose(query, docs[0], atol=1e-4)  # the query instruction changed the vector


def test_custom_instructions_and_dimensions(vl_embedder):
    lc = Qwen3VLEmbeddings(embedder=vl_embedder, dimensions=8, query_instruction="Find charts.",
                           document_instruction="Represent the chart.")
    docs = np.array(lc.embed_documents(TEXTS))
    assert docs.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(docs, vl_embedder.embed(TEXTS, instruction="Represent the chart.", dimensions=8),
                               atol=1e-6)
    np.testing.assert_allclose(lc.embed_query("q"), vl_embedder.embed(["q"], instruction="Find charts.",
                                                                     dimensions=8)[0], atol=1e-6)


async def test_async_twins_return_the_sync_vectors(embeddings, image_paths):
    np.testing.assert_allclose(await embeddings.aembed_documents(TEXTS), embeddings.embed_documents(TEXTS),
                               atol=1e-6)
    np.testing.assert_allclose(await embeddings.aembed_query("dog"), embeddings.embed_query("dog"), atol=1e-6)
    np.testing.assert_allclose(await embeddings.aembed_image(uris=image_paths),
                               embeddings.embed_image(uris=image_paths), atol=1e-6)
    frames = [image_paths[0], image_paths[0]]
    np.testing.assert_allclose(await embeddings.aembed_video([frames], max_frames=2),
                               embeddings.embed_video([frames], max_frames=2), atol=1e-6)
    items = ["text", {"image": image_paths[1], "text": "caption"}]
    np.testing.assert_allclose(await embeddings.aembed_multimodal(items, query=True),
                               embeddings.embed_multimodal(items, query=True), atol=1e-6)


async def test_async_first_use_loads_off_the_event_loop(tiny_vl_path, vl_embedder):
    lc = Qwen3VLEmbeddings(model_name=str(tiny_vl_path))
    vectors = await lc.aembed_documents(TEXTS)
    np.testing.assert_allclose(vectors, vl_embedder.embed_documents(TEXTS), atol=1e-6)


# -- images, video, mixed ----------------------------------------------------------------------------
def test_embed_image_accepts_paths_file_uris_and_data_uris(embeddings, vl_embedder, image_paths):
    buffer = io.BytesIO()
    random_image(0, size=(64, 64)).save(buffer, format="PNG")
    data_uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    uris = [image_paths[0], "file://" + image_paths[1], data_uri]
    vectors = embeddings.embed_image(uris=uris)
    assert _is_float_matrix(vectors, 3, vl_embedder.dimension)
    np.testing.assert_allclose(vectors, vl_embedder.embed_documents([{"image": u} for u in uris]), atol=1e-6)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-5)  # same pixels, two forms
    with pytest.raises(TypeError, match="list"):
        embeddings.embed_image(image_paths[0])


def test_embed_video_and_multimodal_shapes(embeddings, vl_embedder, image_paths, tmp_path):
    # Frame lists are resampled to num_frames (64) by default; max_frames keeps the tiny test fast.
    other = str(tmp_path / "frame.png")
    random_image(11, size=(64, 64)).save(other)
    videos = [[image_paths[0], other, image_paths[0], other], [image_paths[0], image_paths[0]]]
    vectors = embeddings.embed_video(videos, max_frames=4)
    assert _is_float_matrix(vectors, 2, vl_embedder.dimension)
    core = vl_embedder.embed_documents([{"video": v, "max_frames": 4} for v in videos])
    np.testing.assert_allclose(vectors, core, atol=1e-6)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-4)

    items = ["plain text", {"image": image_paths[2], "text": "a caption"},
             {"video": videos[1], "text": "clip", "max_frames": 2}]
    mixed = embeddings.embed_multimodal(items)
    assert _is_float_matrix(mixed, 3, vl_embedder.dimension)
    np.testing.assert_allclose(mixed, vl_embedder.embed_documents(items), atol=1e-6)
    as_query = embeddings.embed_multimodal(items[:1], query=True)
    np.testing.assert_allclose(as_query[0], embeddings.embed_query(items[0]), atol=1e-6)


# -- a vector store holding texts and images ---------------------------------------------------------
def test_image_added_through_embed_image_is_retrievable_by_text(embeddings, vl_embedder, image_paths):
    store = InMemoryVectorStore(embeddings)
    text_ids = store.add_documents([Document(page_content=t, metadata={"n": i}) for i, t in enumerate(TEXTS)])
    image_vectors = embeddings.embed_image(uris=image_paths)
    for i, (path, vector) in enumerate(zip(image_paths, image_vectors)):
        store.store[f"img{i}"] = {"id": f"img{i}", "vector": vector, "text": "", "metadata": {"image_path": path}}

    query = "a photo"
    hits = store.similarity_search_with_score(query, k=len(store.store))
    assert {d.id for d, _ in hits} == set(text_ids) | {"img0", "img1", "img2"}
    image_doc, image_score = next((d, s) for d, s in hits if d.id == "img1")
    assert image_doc.metadata == {"image_path": image_paths[1]}
    core_vector = vl_embedder.embed_documents([{"image": image_paths[1]}])[0]
    np.testing.assert_allclose(store.store["img1"]["vector"], core_vector, atol=1e-6)
    core_query = vl_embedder.embed_queries([query])[0]
    assert image_score == pytest.approx(float(core_query @ core_vector), abs=1e-5)
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    retrieved = store.as_retriever(search_kwargs={"k": len(store.store)}).invoke(query)
    assert "img1" in [d.id for d in retrieved]


async def test_precision_float16_rounds_every_path_and_the_codes_are_refused(vl_embedder):
    half = Qwen3VLEmbeddings(embedder=vl_embedder, precision="float16", dimensions=16)
    docs = vl_embedder.embed_documents(TEXTS, dimensions=16, precision="float16").astype(np.float64).tolist()
    assert half.embed_documents(TEXTS) == docs and await half.aembed_documents(TEXTS) == docs
    query = vl_embedder.embed_queries(["dog"], dimensions=16, precision="float16")[0].astype(np.float64).tolist()
    assert half.embed_query("dog") == query and await half.aembed_query("dog") == query
    assert all(type(v) is float for v in half.embed_query("dog"))
    assert half.identity.precision == "float16" and half.space_metadata()["embedding_space"].endswith("|float16")
    for code in ("int8", "uint8", "binary", "ubinary"):
        with pytest.raises(ValidationError, match=f"precision={code!r}.*is not offered.*wrong rankings"):
            Qwen3VLEmbeddings(embedder=vl_embedder, precision=code)
    with pytest.raises(ValidationError, match="precision must be one of"):
        Qwen3VLEmbeddings(embedder=vl_embedder, precision="bf16")
