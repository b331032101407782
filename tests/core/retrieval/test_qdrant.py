"""TwoStageIndex on Qdrant's embedded mode (in process, no server) with the tiny Qwen3-VL embedder."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from qdrant_client import QdrantClient, models  # noqa: E402

from qwen3_vl_rag.core import InputError  # noqa: E402
from qwen3_vl_rag.core.identity import SPACE_METADATA_KEY, EmbeddingSpaceMismatch, space_label  # noqa: E402
from qwen3_vl_rag.core.retrieval import COARSE, FULL, TwoStageIndex  # noqa: E402
from qwen3_vl_rag.core.retrieval.qdrant import make_client, point_id  # noqa: E402
from tests.conftest import random_image  # noqa: E402

TEXTS = ["a cat on a mat", "the capital of China is Beijing", "gravity attracts two bodies",
         "a river through the city", "the moon and the stars", "a dog in the park", "ocean waves at sunset",
         "a tree on a mountain"]


class CountingEmbedder:
    """The real tiny embedder, counting its document calls (to prove one forward pass per item)."""

    def __init__(self, inner):
        self.inner, self.document_calls, self.documents = inner, 0, 0

    def embed_documents(self, items, dimensions=None):
        self.document_calls += 1
        self.documents += len(items)
        return self.inner.embed_documents(items, dimensions=dimensions)

    def embed_queries(self, items, instruction=None, dimensions=None):
        return self.inner.embed_queries(items, instruction=instruction, dimensions=dimensions)

    @property
    def dimension(self):
        return self.inner.dimension

    @property
    def identity(self):
        return self.inner.identity


def _stored(index: TwoStageIndex) -> dict:
    points, _ = index.client.scroll(index.collection_name, limit=1000, with_vectors=True, with_payload=True)
    return {p.payload["qwen3_vl_rag_id"]: p for p in points}


def test_one_forward_pass_and_the_coarse_vector_is_the_renormalised_prefix(vl_embedder):
    embedder = CountingEmbedder(vl_embedder)
    index = TwoStageIndex(embedder, ":memory:", coarse_dimension=16)
    ids = index.add(TEXTS, ids=[f"doc-{i}" for i in range(len(TEXTS))], batch_size=5)
    assert ids == [f"doc-{i}" for i in range(len(TEXTS))] and len(index) == len(TEXTS)
    assert (embedder.document_calls, embedder.documents) == (1, len(TEXTS))  # the whole call once, each item once
    expected = vl_embedder.embed_documents(TEXTS)
    stored = _stored(index)
    for i in range(len(TEXTS)):
        vectors = stored[f"doc-{i}"].vector
        full, coarse = np.array(vectors[FULL]), np.array(vectors[COARSE])
        assert full.shape == (64,) and coarse.shape == (16,)
        np.testing.assert_allclose(full, expected[i], atol=1e-5)
        prefix = expected[i][:16] / np.linalg.norm(expected[i][:16])
        np.testing.assert_allclose(coarse, prefix, atol=1e-5)
        assert stored[f"doc-{i}"].payload[SPACE_METADATA_KEY] == space_label(vl_embedder.identity)


def test_search_is_coarse_prefetch_then_full_rescore(vl_embedder):
    """Results equal a numpy reference: top-`candidates` by coarse cosine, reordered by full cosine."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 64)).astype(np.float32) * np.linspace(3, 0.2, 64, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    coarse = vectors[:, :8] / np.linalg.norm(vectors[:, :8], axis=1, keepdims=True)
    index = TwoStageIndex(vl_embedder, ":memory:", coarse_dimension=8)
    index.add_vectors(vectors, ids=list(range(200)))
    for q in rng.normal(size=(5, 64)).astype(np.float32):
        q /= np.linalg.norm(q)
        qc = q[:8] / np.linalg.norm(q[:8])
        for candidates in (5, 20, 200):
            pool = np.argsort(-(coarse @ qc), kind="stable")[:candidates]
            want = pool[np.argsort(-(vectors[pool] @ q), kind="stable")][:5]
            hits = index.search_vector(q, k=5, candidates=candidates)
            assert [h.id for h in hits] == want.tolist()
            np.testing.assert_allclose([h.score for h in hits], vectors[want] @ q, atol=1e-4)
        exact = np.argsort(-(vectors @ q))[:5]
        assert [h.id for h in index.search_vector(q, k=5, candidates=200)] == exact.tolist()


def test_text_and_image_items_and_a_filter(vl_embedder, tmp_path):
    image = tmp_path / "red.png"
    random_image(3).save(image)
    index = TwoStageIndex(vl_embedder, ":memory:")
    assert index.layout.coarse_dimension == 32  # half of the tiny model's 64 dimensions
    index.add([*TEXTS[:3], {"image": str(image)}, {"image": random_image(4), "text": "noise"}],
              payloads=[{"kind": "text"}] * 3 + [{"kind": "image"}] * 2)
    image_vector = vl_embedder.embed_documents([{"image": str(image)}])[0]
    best = index.search_vector(image_vector, k=1)[0]
    assert best.payload["kind"] == "image" and best.score == pytest.approx(1.0, abs=1e-4)
    hits = index.search({"image": str(image)}, k=5)  # an image query, with the query instruction
    assert len(hits) == 5 and hits[0].score >= hits[-1].score
    only_text = models.Filter(must=[models.FieldCondition(key="kind", match=models.MatchValue(value="text"))])
    hits = index.search("a cat", k=5, query_filter=only_text)
    assert len(hits) == 3 and {h.payload["kind"] for h in hits} == {"text"}
    assert {h.payload[SPACE_METADATA_KEY] for h in hits} == {space_label(vl_embedder.identity)}


def test_reopen_from_a_local_path_and_refuse_another_space(vl_embedder, text_embedder, tiny_vl_path, tmp_path):
    from qwen3_vl_rag.core import Qwen3VLEmbedder

    path = str(tmp_path / "qdrant")
    with TwoStageIndex(vl_embedder, path, collection_name="docs") as index:
        index.add(TEXTS[:4], ids=[1, 2, 3, 4])
        before = index.search("a cat", k=2)
    with TwoStageIndex(vl_embedder, path, collection_name="docs") as index:
        assert len(index) == 4 and index.layout.coarse_dimension == 32
        after = index.search("a cat", k=2)
        assert [h.id for h in after] == [h.id for h in before]
        assert [h.score for h in after] == pytest.approx([h.score for h in before], abs=1e-4)  # float16 on disk
        assert index.bytes_per_item()["ram"] == 32 + 4 + 2 * 32 * 4
    with pytest.raises(EmbeddingSpaceMismatch, match="docs.*qwen3-embedding"):
        TwoStageIndex(text_embedder, path, collection_name="docs")  # same size, another model and prompt format
    smaller = Qwen3VLEmbedder(str(tiny_vl_path), dimensions=48)
    with pytest.raises(EmbeddingSpaceMismatch, match="48-d"):
        TwoStageIndex(smaller, path, collection_name="docs")  # same model, another Matryoshka size
    with pytest.raises(ValueError, match="coarse_dimension=32"):
        TwoStageIndex(vl_embedder, path, collection_name="docs", coarse_dimension=16)
    with pytest.raises(ValueError, match="another layout \\(quantization='int8'; you asked for quantization=None"):
        TwoStageIndex(vl_embedder, path, collection_name="docs", quantization=None)
    with pytest.raises(TypeError, match="unknown option"):
        TwoStageIndex(vl_embedder, ":memory:", hnsw_M=16)
    with TwoStageIndex(vl_embedder, path, collection_name="docs", hnsw_m=32) as index:  # the stored value: fine
        assert index.layout.full_datatype == "float16"


def test_refuses_a_collection_it_did_not_create(vl_embedder):
    client = QdrantClient(":memory:")
    client.create_collection("plain", vectors_config=models.VectorParams(size=64, distance=models.Distance.COSINE))
    with pytest.raises(ValueError, match="not created by TwoStageIndex"):
        TwoStageIndex(vl_embedder, client=client, collection_name="plain")


def test_bad_rows_are_refused_with_their_index(vl_embedder):
    index = TwoStageIndex(vl_embedder, ":memory:")
    with pytest.raises(InputError, match="input item 2: id 'a' repeats the id of item 0"):
        index.add(["x", "y", "z"], ids=["a", "b", "a"])
    with pytest.raises(InputError, match="input item 1: payload key 'embedding_space' is reserved"):
        index.add(["x", "y"], payloads=[{}, {SPACE_METADATA_KEY: "other|qwen3-vl-chat|64"}])
    with pytest.raises(ValueError, match="2 items, 1 ids"):
        index.add(["x", "y"], ids=["a"])
    vectors = np.ones((2, 64), dtype=np.float32)
    vectors[1] = 0
    with pytest.raises(InputError, match="input item 1: its vector is zero"):
        index.add_vectors(vectors)
    with pytest.raises(ValueError, match="64 dimensions"):
        index.add_vectors(np.ones((2, 32)))
    with pytest.raises(ValueError, match="candidates"):
        index.search_vector(np.ones(64), k=10, candidates=5)
    assert len(index) == 0  # nothing half-written


@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
def test_ids_deletion_and_locations(vl_embedder):
    index = TwoStageIndex(vl_embedder, ":memory:")
    index.add(TEXTS[:3], ids=["node-a", 7, "0b7c8a52-4f5e-4d0c-9d3c-0a4c7d1e2f30"])
    assert sorted(map(str, (h.id for h in index.search("x", k=3)))) == sorted(
        ["node-a", "7", "0b7c8a52-4f5e-4d0c-9d3c-0a4c7d1e2f30"])
    assert point_id(7) == 7 and point_id("node-a") == point_id("node-a") != "node-a"
    index.delete(["node-a"])
    assert len(index) == 2
    remote = make_client("http://127.0.0.1:6333")  # the server path: same client class, no connection yet
    assert type(remote._client).__name__ == "QdrantRemote"
    with pytest.raises(ValueError, match="only used with a Qdrant server URL"):
        make_client(":memory:", api_key="secret")
    with pytest.raises(ValueError, match="exactly one of location"):
        TwoStageIndex(vl_embedder)


def test_numpy_payload_values_are_stored_as_python_values(vl_embedder):
    import datetime

    index = TwoStageIndex(vl_embedder, ":memory:")
    index.add(["a cat", "a dog"], ids=[1, 2],
              payloads=[{"score": np.float32(0.5), "tags": np.array([1, 2])}, {"n": np.int64(3)}])
    payloads = {h.id: h.payload for h in index.search("a cat", k=2)}
    assert payloads[1]["score"] == 0.5 and payloads[1]["tags"] == [1, 2] and payloads[2]["n"] == 3
    with pytest.raises(InputError, match=r"input item 1: payload\['when'\] is a date"):
        index.add(["a", "b"], payloads=[{}, {"when": datetime.date(2026, 1, 1)}])
    assert len(index) == 2


def test_search_vector_refuses_a_zero_vector(vl_embedder):
    index = TwoStageIndex(vl_embedder, ":memory:")
    index.add_vectors(np.ones((1, 64)), ids=["a"])
    with pytest.raises(ValueError, match="the query vector is zero"):
        index.search_vector(np.zeros(64), k=1)
