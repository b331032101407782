"""The binary coarse stage of TwoStageIndex: stored layout, reopening, refusals, threads (Qdrant's embedded
mode, which keeps the quantisation config but searches exactly), and the real engine (qdrant-edge) running
the very quantisation config the index creates, against exact search."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from qwen3_vl_rag.core.identity import EmbeddingIdentity  # noqa: E402
from qwen3_vl_rag.core.retrieval import COARSE, FULL, TwoStageIndex  # noqa: E402
from qwen3_vl_rag.core.retrieval.layout import Layout  # noqa: E402

DIM = 64


def _vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def _cosines(docs: np.ndarray, query: np.ndarray) -> np.ndarray:
    docs = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    return docs @ (query / np.linalg.norm(query))


def test_binary_stage_stores_its_quantisation_and_rescores_with_the_full_vectors(vl_embedder):
    index = TwoStageIndex(vl_embedder, ":memory:", quantization="binary")
    assert (index.layout.quantization, index.layout.coarse_dimension) == ("binary", 32)
    config = index.client.get_collection(index.collection_name).config.params.vectors
    binary = config[COARSE].quantization_config.binary
    assert binary.always_ram and binary.encoding.value == "one_bit" and binary.query_encoding.value == "scalar8bits"
    assert config[FULL].quantization_config is None
    texts = ["a cat on a mat", "the capital of China", "gravity attracts bodies", "a river in the city",
             "the moon and stars", "a dog in the park"]
    index.add(texts, ids=list(range(len(texts))))
    query = vl_embedder.embed_queries(["a cat"])[0]
    full = _cosines(vl_embedder.embed_documents(texts), query)
    hits = index.search("a cat", k=4, candidates=len(texts))
    assert [h.id for h in hits] == np.argsort(-full)[:4].tolist()  # every item a candidate: the exact order
    assert [h.score for h in hits] == pytest.approx(np.sort(full)[::-1][:4], abs=2e-3)  # float16 full vectors


def test_candidates_are_rescored_in_the_exact_cosine_order_of_the_full_vectors():
    docs = _vectors(40)
    index = TwoStageIndex(EmbeddingIdentity("m", DIM), ":memory:", quantization="binary", coarse_dimension=DIM)
    index.add_vectors(docs, ids=list(range(40)))
    query = _vectors(1, seed=1)[0]
    hits = index.search_vector(query, k=5, candidates=12)
    full = _cosines(docs, query)
    assert len(hits) == 5 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert [h.score for h in hits] == pytest.approx(full[[h.id for h in hits]], abs=2e-3)
    every = index.search_vector(query, k=5, candidates=40)
    assert [h.id for h in every] == np.argsort(-full)[:5].tolist()


def test_bytes_per_item_of_the_binary_stage():
    assert Layout(1024, 2048, quantization="binary").bytes_per_item() == {
        "ram": 128 + 2 * 32 * 4, "disk": 1024 * 2 + 2048 * 2, "total": 128 + 256 + 6144}
    assert Layout(2048, 2048, quantization="binary").bytes_per_item()["ram"] == 256 + 256  # one bit per dim
    assert Layout(1000, 2048, quantization="binary").bytes_per_item()["ram"] == 128 + 256  # 128-bit words
    assert Layout(16, 32, quantization="binary").bytes_per_item()["ram"] == 16 + 256
    index = TwoStageIndex(EmbeddingIdentity("m", DIM), ":memory:", quantization="binary")
    assert index.bytes_per_item()["ram"] == 16 + 256 < TwoStageIndex(EmbeddingIdentity("m", DIM), ":memory:",
                                                                     collection_name="b").bytes_per_item()["ram"]


def test_reopen_uses_the_stored_choice_and_refuses_another(tmp_path):
    path, model = str(tmp_path / "qdrant"), EmbeddingIdentity("m", DIM)
    docs = _vectors(20)
    with TwoStageIndex(model, path, collection_name="bits", quantization="binary", coarse_dimension=DIM) as index:
        index.add_vectors(docs, ids=list(range(20)))
        before = index.search_vector(docs[3], k=3)
    with TwoStageIndex(model, path, collection_name="bits") as index:  # not asked: the stored choice
        assert (index.layout.quantization, index.layout.coarse_dimension, len(index)) == ("binary", DIM, 20)
        assert [h.id for h in index.search_vector(docs[3], k=3)] == [h.id for h in before] and before[0].id == 3
        assert index.bytes_per_item()["ram"] == 16 + 256
    with TwoStageIndex(model, path, collection_name="bits", quantization="binary") as index:  # the same: fine
        assert index.layout.quantization == "binary"
    for other in ("int8", None):
        with pytest.raises(ValueError, match=f"'bits' exists with another layout \\(quantization='binary'; you "
                                             f"asked for quantization={other!r}\\)"):
            TwoStageIndex(model, path, collection_name="bits", quantization=other)
    TwoStageIndex(model, path, collection_name="bytes").close()  # the default, int8
    with pytest.raises(ValueError, match="quantization='int8'; you asked for quantization='binary'"):
        TwoStageIndex(model, path, collection_name="bytes", quantization="binary")


@pytest.mark.parametrize("bad", ["int4", "Binary", "float32", 8, True])
def test_bad_quantisation_is_refused_naming_the_valid_ones(bad, tmp_path):
    message = r"quantization must be one of \('int8', 'binary', None\)"
    with pytest.raises(ValueError, match=message + f".*got {bad!r}"):
        TwoStageIndex(EmbeddingIdentity("m", DIM), ":memory:", quantization=bad)
    path = str(tmp_path / "q")
    TwoStageIndex(EmbeddingIdentity("m", DIM), path).close()
    with pytest.raises(ValueError, match=message):  # an existing collection: the bad value, not a layout clash
        TwoStageIndex(EmbeddingIdentity("m", DIM), path, quantization=bad)
    with pytest.raises(ValueError, match=message):
        Layout(8, 16, quantization=bad)


def test_a_coarse_stage_of_every_dimension_needs_a_quantisation():
    assert Layout(16, 16, quantization="binary").coarse_dimension == Layout(16, 16, quantization="int8").full_dimension
    with pytest.raises(ValueError, match="between 1 and 15 .*unquantised coarse stage of every dimension"):
        Layout(16, 16, quantization=None)
    with pytest.raises(ValueError, match="between 1 and 16 .*quantised coarse stage.*got 17"):
        Layout(17, 16, quantization="binary")


@pytest.mark.parametrize("location", [":memory:", "directory"])
def test_threads_adding_and_searching_a_binary_index_lose_nothing(location, tmp_path):
    index = TwoStageIndex(EmbeddingIdentity("m", 16), location if location == ":memory:" else str(tmp_path / "q"),
                          quantization="binary", coarse_dimension=16)
    vectors = _vectors(4 * 8 * 4, dim=16).reshape(4, 8, 4, 16)
    errors, searched = [], []

    def add(worker):
        try:
            for call in range(8):
                index.add_vectors(vectors[worker, call], ids=[f"{worker}-{call}-{i}" for i in range(4)])
        except Exception as exc:  # pragma: no cover - what the test looks for
            errors.append(repr(exc))

    def search(seed):
        try:
            for query in _vectors(10, dim=16, seed=seed):
                searched.append(len(index.search_vector(query, k=3)))
        except Exception as exc:  # pragma: no cover - what the test looks for
            errors.append(repr(exc))

    threads = [threading.Thread(target=add, args=(w,)) for w in range(4)] + \
        [threading.Thread(target=search, args=(s,)) for s in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(index) == 4 * 8 * 4 and len(searched) == 20
    hit = index.search_vector(vectors[2, 3, 1], k=1)[0]
    assert hit.id == "2-3-1" and hit.score == pytest.approx(1.0, abs=1e-3)


# -- the real engine -------------------------------------------------------------------------------------------
def _edge_params(E, params):
    """qdrant-edge's form of one named vector's qdrant-client ``VectorParams`` as TwoStageIndex created it."""
    quantization = params.quantization_config
    if quantization is not None and hasattr(quantization, "binary"):
        names = {"one_bit": E.BinaryQuantizationEncoding.OneBit}
        queries = {"scalar8bits": E.BinaryQuantizationQueryEncoding.Scalar8Bits, None: None}
        binary = quantization.binary
        quantization = E.BinaryQuantizationConfig(
            always_ram=binary.always_ram, encoding=names[binary.encoding.value],
            query_encoding=queries[binary.query_encoding.value if binary.query_encoding else None])
    elif quantization is not None:
        scalar = quantization.scalar
        quantization = E.ScalarQuantizationConfig(E.ScalarType.Int8, scalar.quantile, scalar.always_ram)
    datatype = {"float16": E.VectorStorageDatatype.Float16, "float32": E.VectorStorageDatatype.Float32}
    hnsw = params.hnsw_config
    return E.EdgeVectorParams(size=params.size, distance=E.Distance.Cosine, on_disk=params.on_disk,
                              datatype=datatype[params.datatype.value], quantization_config=quantization,
                              hnsw_config=E.HnswIndexConfig(m=hnsw.m, ef_construct=hnsw.ef_construct or 100,
                                                            full_scan_threshold=1))


def _on_the_real_engine(index, docs, queries, candidates, tmp_path):
    """Run ``index``'s own collection config, stored vectors and search requests on qdrant-edge; the
    ids it finds per query. ``index`` lives in qdrant-client's embedded mode, which keeps the config but
    searches exactly: each request ``search_vector`` builds is recorded there and replayed on the engine."""
    E = pytest.importorskip("qdrant_edge")  # optional: the real Qdrant engine in process (qdrant-edge-py)
    index.add_vectors(docs, ids=list(range(len(docs))))
    vectors = index.client.get_collection(index.collection_name).config.params.vectors
    shard = E.EdgeShard.create(str(tmp_path / "edge"), E.EdgeConfig(
        vectors={name: _edge_params(E, vectors[name]) for name in (COARSE, FULL)},
        optimizers=E.EdgeOptimizersConfig(indexing_threshold=1, default_segment_number=1)))
    points, _ = index.client.scroll(index.collection_name, limit=len(docs), with_vectors=True)
    shard.update(E.UpdateOperation.upsert_points([E.Point(p.payload["qwen3_vl_rag_id"], p.vector) for p in points]))
    shard.optimize()
    requests, query_points = [], index.client.query_points
    index.client.query_points = lambda *args, **kwargs: requests.append(kwargs) or query_points(*args, **kwargs)
    for query in queries:
        index.search_vector(query, k=10, candidates=candidates)
    found = []
    for request in requests:
        prefetch = request["prefetch"]
        assert prefetch.params.quantization.rescore is False  # the full vectors rescore, not the coarse originals
        hits = shard.query(E.QueryRequest(
            limit=request["limit"], query=E.Query.Nearest(request["query"], using=request["using"]),
            prefetches=[E.Prefetch(limit=prefetch.limit, query=E.Query.Nearest(prefetch.query, using=prefetch.using),
                                   params=E.SearchParams(hnsw_ef=prefetch.params.hnsw_ef,
                                                         quantization=E.QuantizationSearchParams(rescore=False)))]))
        found.append({int(h.id) for h in hits})
    shard.close()
    return found


def test_the_real_engine_runs_the_binary_stage_against_exact_search(tmp_path):
    """Clustered 256-d vectors (what embeddings of related items look like), a 128-d binary coarse stage:
    with 100 of 1,000 items as candidates it finds nearly all of the exact top 10 (1.00 when written); a
    stage ranking candidates at random would find 10% of them, one without oversampling (10 candidates)
    0.70."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 256))
    docs = (centres[rng.integers(0, 50, 1000)] + 0.8 * rng.normal(size=(1000, 256))).astype(np.float32)
    queries = (docs[rng.integers(0, 1000, 20)] + 0.5 * rng.normal(size=(20, 256))).astype(np.float32)
    unit = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    exact = [set(np.argsort(-(unit @ q))[:10].tolist()) for q in queries]
    index = TwoStageIndex(EmbeddingIdentity("m", 256), ":memory:", quantization="binary", coarse_dimension=128)
    found = _on_the_real_engine(index, docs, queries, 100, tmp_path)
    recall = float(np.mean([len(f & e) / 10 for f, e in zip(found, exact)]))
    assert recall >= 0.9, recall
