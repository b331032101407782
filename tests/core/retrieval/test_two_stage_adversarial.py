"""TwoStageIndex used the way a careless or hostile caller would: a bad item late in a call, ids that
collide across calls, reopening with another model / size / checkpoint, threads adding and searching at
once, a process killed while it writes. Qdrant's embedded mode and the tiny Qwen3-VL models throughout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from qwen3_vl_rag.core import InputError, Qwen3VLEmbedder  # noqa: E402
from qwen3_vl_rag.core.identity import EmbeddingIdentity, EmbeddingSpaceMismatch  # noqa: E402
from qwen3_vl_rag.core.retrieval import TwoStageIndex  # noqa: E402
from qwen3_vl_rag.core.retrieval import qdrant as qdrant_module  # noqa: E402
from qwen3_vl_rag.testing import build_tiny_vl_model  # noqa: E402
from tests.conftest import random_image  # noqa: E402

from ..adversarial import ForwardCounter, png_bytes  # noqa: E402

TEXTS = [f"document number {i}" for i in range(10)]
U = "0b7c8a52-4f5e-4d0c-9d3c-0a4c7d1e2f30"


# -- item 5: the whole call is checked before anything is stored ---------------------------------
def test_a_bad_item_late_in_the_call_names_its_position_and_stores_nothing(vl_embedder):
    index = TwoStageIndex(vl_embedder, ":memory:")
    items = list(TEXTS)
    items[7] = {"txt": "a typo"}
    with ForwardCounter(vl_embedder) as forwards, pytest.raises(InputError) as info:
        index.add(items, ids=list(range(10)), batch_size=4)
    assert info.value.index == 7 and "unknown key(s) ['txt']" in info.value.reason
    assert forwards.calls == 0 and len(index) == 0


def test_an_image_found_broken_while_decoding_stores_nothing(vl_embedder, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(png_bytes(random_image(0, size=(64, 64)))[:-40])  # header fine, pixel data cut
    items = [*TEXTS[:7], {"image": str(broken)}, *TEXTS[8:]]
    index = TwoStageIndex(vl_embedder, ":memory:")
    with pytest.raises(InputError) as info:
        index.add(items, batch_size=4)
    assert info.value.index == 7 and len(index) == 0


class ZeroAt:
    """The real embedder, with one document's vector replaced by zeros (a broken backend)."""

    def __init__(self, inner, position):
        self.inner, self.position = inner, position
        self.dimension, self.identity = inner.dimension, inner.identity

    def embed_documents(self, items, dimensions=None):
        vectors = self.inner.embed_documents(items, dimensions=dimensions)
        vectors[self.position] = 0
        return vectors


def test_a_zero_vector_from_the_embedder_names_the_item_and_stores_nothing(vl_embedder):
    index = TwoStageIndex(ZeroAt(vl_embedder, 7), ":memory:")
    with pytest.raises(InputError, match="input item 7: its vector is zero"):
        index.add(TEXTS, batch_size=4)
    assert len(index) == 0


def test_large_payloads_are_written_in_requests_under_the_size_limit(vl_embedder, monkeypatch):
    monkeypatch.setattr(qdrant_module, "MAX_REQUEST_BYTES", 300_000)
    index = TwoStageIndex(vl_embedder, ":memory:")
    requests = []
    upsert = index.client.upsert
    index.client.upsert = lambda *a, **k: (requests.append(len(k["points"])), upsert(*a, **k))[1]
    vectors = np.random.default_rng(0).normal(size=(10, 64)).astype(np.float32)
    index.add_vectors(vectors, ids=list(range(10)), payloads=[{"text": "z" * 100_000}] * 10)
    assert sum(requests) == 10 and max(requests) <= 3 and len(index) == 10


# -- ids that collide after the index's own mapping --------------------------------------------------
@pytest.mark.parametrize("first, second", [
    (U, U.upper()), (U, "{" + U + "}"), (U, U.replace("-", "")), (U, "urn:uuid:" + U), (-5, "-5")])
def test_two_spellings_of_one_stored_point_are_refused_across_calls(vl_embedder, first, second):
    index = TwoStageIndex(vl_embedder, ":memory:")
    index.add_vectors(np.ones((1, 64)), ids=[first], payloads=[{"v": 1}])
    with pytest.raises(InputError, match="input item 1: .*would overwrite each other"):
        index.add_vectors(np.ones((2, 64)), ids=["other", second], payloads=[{"v": 2}, {"v": 2}])
    with pytest.raises(InputError, match="input item 0: .*would overwrite each other"):
        index.delete([second])
    assert len(index) == 1 and index.search_vector(np.ones(64), k=1)[0].payload["v"] == 1
    with pytest.raises(InputError, match=r"input item 1: .* repeats the id of item 0 .*both are stored as"):
        index.add_vectors(np.ones((2, 64)), ids=[first, second])
    index.add_vectors(2 * np.ones((1, 64)), ids=[first], payloads=[{"v": 3}])  # the same id: overwritten
    assert len(index) == 1 and index.search_vector(np.ones(64), k=1)[0].payload["v"] == 3
    index.delete([first])
    assert len(index) == 0


def test_int_and_string_ids_stay_apart():
    index = TwoStageIndex(EmbeddingIdentity("m", 8), ":memory:")
    index.add_vectors(np.eye(8)[:4] + 0.1, ids=[7, "7", np.int64(8), "8"])
    assert len(index) == 4
    assert sorted(map(repr, (h.id for h in index.search_vector(np.ones(8), k=4)))) == ["'7'", "'8'", "7", "8"]


# -- reopening a collection ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two runs' checkpoints in folders of the same name (different weights), and a copy of run A."""
    root = tmp_path_factory.mktemp("runs")
    a = build_tiny_vl_model(root / "runA" / "checkpoint-1000", seed=1)
    b = build_tiny_vl_model(root / "runB" / "checkpoint-1000", seed=2)
    copy = shutil.copytree(a, root / "exported" / "my-embedder")
    return {name: Qwen3VLEmbedder(str(path)) for name, path in (("a", a), ("b", b), ("copy", copy))}


def test_reopening_with_another_checkpoint_of_the_same_name_is_refused(checkpoints, tmp_path):
    path = str(tmp_path / "qdrant")
    with TwoStageIndex(checkpoints["a"], path, collection_name="docs") as index:
        index.add(TEXTS[:3], ids=[1, 2, 3])
    with pytest.raises(EmbeddingSpaceMismatch, match="different weights"):
        TwoStageIndex(checkpoints["b"], path, collection_name="docs")
    with TwoStageIndex(checkpoints["copy"], path, collection_name="docs") as index:  # the same weights elsewhere
        assert len(index) == 3 and index.search(TEXTS[1], k=1)[0].id == 2


def test_reopening_a_collection_stamped_before_fingerprints(checkpoints):
    """An old stamp has no weights: it is matched by model name, as it always was, and still loads."""
    old = {k: v for k, v in checkpoints["a"].identity.to_dict().items() if k != "weights"}
    index = TwoStageIndex(EmbeddingIdentity.from_dict(old), ":memory:", collection_name="old")
    index.add_vectors(np.ones((1, 64)), ids=["x"])
    reopened = TwoStageIndex(checkpoints["b"], client=index.client, collection_name="old")
    assert len(reopened) == 1
    renamed = EmbeddingIdentity.from_dict({**old, "model": "another-name"})
    with pytest.raises(EmbeddingSpaceMismatch, match="different model"):
        TwoStageIndex(renamed, client=index.client, collection_name="old")


def test_reopening_with_another_model_size_or_prompt_format_is_refused(vl_embedder, tmp_path):
    path = str(tmp_path / "qdrant")
    TwoStageIndex(vl_embedder, path, collection_name="docs").close()
    base = vl_embedder.identity
    for other, what in ((base.with_dimension(48), "dimension"),
                        (EmbeddingIdentity(base.model, 64, prompt_format="qwen3-embedding", weights=base.weights),
                         "prompt format"),
                        (EmbeddingIdentity("qwen3-vl-embedding-8b", 64), "model")):
        with pytest.raises(EmbeddingSpaceMismatch, match=f"different {what}"):
            TwoStageIndex(other, path, collection_name="docs")


def test_a_damaged_stamp_is_a_one_line_error(vl_embedder):
    index = TwoStageIndex(vl_embedder, ":memory:", collection_name="docs")
    index.client.update_collection("docs", metadata={"qwen3_vl_rag": {"format": 1, "vectors": {}}})
    with pytest.raises(ValueError, match="damaged 'qwen3_vl_rag' stamp"):
        TwoStageIndex(vl_embedder, client=index.client, collection_name="docs")


class Switching:
    """An embedder whose backend changes under the index (e.g. a fallback that moved on)."""

    def __init__(self, first, then):
        self.current, self.then = first, then
        self.dimension = first.dimension

    @property
    def identity(self):
        return self.current.identity

    def embed_documents(self, items, dimensions=None):
        return self.current.embed_documents(items, dimensions=dimensions)

    def embed_queries(self, items, instruction=None, dimensions=None):
        return self.current.embed_queries(items, instruction=instruction, dimensions=dimensions)


def test_an_embedder_that_changes_space_is_refused_before_embedding(checkpoints):
    embedder = Switching(checkpoints["a"], checkpoints["b"])
    index = TwoStageIndex(embedder, ":memory:")
    index.add(TEXTS[:2])
    embedder.current = checkpoints["b"]
    with ForwardCounter(checkpoints["b"]) as forwards:
        with pytest.raises(EmbeddingSpaceMismatch, match="different weights"):
            index.add(TEXTS[2:4])
        with pytest.raises(EmbeddingSpaceMismatch, match="different weights"):
            index.search("query")
    assert forwards.calls == 0 and len(index) == 2


# -- threads -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("location", [":memory:", "directory", "two-indexes-one-client"])
def test_threads_adding_and_searching_at_once_lose_nothing(location, tmp_path):
    index = TwoStageIndex(EmbeddingIdentity("m", 16), location if location == ":memory:" else str(tmp_path / "q"))
    writers = [index, index]
    if location == "two-indexes-one-client":  # e.g. an adapter's index beside the caller's, on one client
        writers[1] = TwoStageIndex(EmbeddingIdentity("m", 16), client=index.client)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 12, 4, 16)).astype(np.float32)
    errors, searched = [], []

    def add(worker):
        try:
            for call in range(12):
                writers[worker % 2].add_vectors(vectors[worker, call], ids=[f"{worker}-{call}-{i}" for i in range(4)])
        except Exception as exc:  # pragma: no cover - what the test looks for
            errors.append(repr(exc))

    def search():
        try:
            for _ in range(15):
                searched.append(len(index.search_vector(rng.normal(size=16), k=3)))
        except Exception as exc:  # pragma: no cover - what the test looks for
            errors.append(repr(exc))

    threads = [threading.Thread(target=add, args=(w,)) for w in range(4)] + \
        [threading.Thread(target=search) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(index) == 4 * 12 * 4 and len(searched) == 30
    hit = index.search_vector(vectors[2, 3, 1], k=1)[0]
    assert hit.id == "2-3-1" and hit.score == pytest.approx(1.0, abs=1e-3)


# -- a process killed while it writes ------------------------------------------------------------------
WRITER = """
import sys, numpy as np
from qwen3_vl_rag.core.identity import EmbeddingIdentity
from qwen3_vl_rag.core.retrieval import TwoStageIndex
index = TwoStageIndex(EmbeddingIdentity("m", 16), sys.argv[1], collection_name="docs")
vectors = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
print("ready", flush=True)
while True:
    for start in range(0, 200, 20):
        index.add_vectors(vectors[start:start + 20], ids=list(range(start, start + 20)),
                          payloads=[{"n": i} for i in range(start, start + 20)], batch_size=5)
"""


def test_killed_while_writing_the_collection_reopens_whole_and_a_rerun_completes(tmp_path):
    path = str(tmp_path / "q")
    vectors = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for delay in (0.05, 0.4, 1.2):
        process = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE, env=env)
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        with TwoStageIndex(EmbeddingIdentity("m", 16), path, collection_name="docs") as index:
            points, _ = index.client.scroll("docs", limit=1000, with_vectors=True, with_payload=True)
            assert len(points) == len(index) <= 200
            for point in points:  # every stored point is whole
                n = point.payload["n"]
                assert point.payload["qwen3_vl_rag_id"] == n == point.id
                assert set(point.vector) == {"coarse", "full"}
                full = np.asarray(point.vector["full"])
                assert float(full @ vectors[n] / np.linalg.norm(vectors[n])) == pytest.approx(1.0, abs=1e-3)
    with TwoStageIndex(EmbeddingIdentity("m", 16), path, collection_name="docs") as index:
        index.add_vectors(vectors, ids=list(range(200)), payloads=[{"n": i} for i in range(200)])
        assert len(index) == 200
        assert json.dumps(sorted(h.id for h in index.search_vector(vectors[17], k=1))) == "[17]"


# -- vectors of another precision ------------------------------------------------------------------
@pytest.mark.parametrize("precision", ["int8", "uint8", "ubinary", "binary"])
def test_integer_and_binary_codes_are_refused_not_cast_to_floats(vl_embedder, precision):
    """The codes of ``precision=`` (full width for int8 / uint8) would be stored as if they were vectors."""
    index = TwoStageIndex(vl_embedder, ":memory:")
    floats = vl_embedder.embed_documents(TEXTS[:4])
    codes = vl_embedder.embed_documents(TEXTS[:4], precision=precision, calibration_embeddings=floats) \
        if "int" in precision else vl_embedder.embed_documents(TEXTS[:4], precision=precision)
    with pytest.raises(TypeError, match=f"must be floats, got {codes.dtype}"):
        index.add_vectors(codes, ids=list(range(4)))
    with pytest.raises(TypeError, match="the query vector must be floats"):
        index.search_vector(codes[0], k=1)
    assert len(index) == 0
    index.add_vectors(vl_embedder.embed_documents(TEXTS[:4], precision="float16"), ids=list(range(4)))
    assert [hit.id for hit in index.search_vector(floats[2], k=1)] == [2]
