"""Image documents through LlamaIndex's everyday idioms store their pixels' vectors (issue 15 #1), and image /
multimodal embedding emits LlamaIndex's embedding events with a progress bar that follows the work."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent, EmbeddingStartEvent
from llama_index.core.schema import ImageDocument, ImageNode, TextNode

from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding


def stored(index):
    """node id -> stored vector of the index's (in-memory) vector store."""
    return {k: np.asarray(v) for k, v in index.vector_store.data.embedding_dict.items()}


def image_vectors(index, vl_embedder):
    nodes = [n for n in index.docstore.docs.values() if isinstance(n, ImageNode)]
    expected = vl_embedder.embed_documents([{"image": n.image_path} for n in nodes])
    return nodes, expected


def test_from_documents_embeds_the_pixels(documents, embed_model, vl_embedder):
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    nodes, expected = image_vectors(index, vl_embedder)
    assert len(nodes) == 3
    vectors = stored(index)
    np.testing.assert_allclose([vectors[n.node_id] for n in nodes], expected, atol=1e-5)
    texts = [n for n in index.docstore.docs.values() if isinstance(n, TextNode) and not isinstance(n, ImageNode)]
    np.testing.assert_allclose([vectors[n.node_id] for n in texts],
                               vl_embedder.embed_documents([n.get_content("embed") for n in texts]), atol=1e-5)


def test_insert_embeds_the_pixels(documents, embed_model, vl_embedder, image_paths):
    index = VectorStoreIndex.from_documents(documents[:3], embed_model=embed_model)
    index.insert(ImageDocument(image_path=image_paths[0], metadata={"file_name": "mountain_sun.png"}))
    nodes, expected = image_vectors(index, vl_embedder)
    assert len(nodes) == 1
    np.testing.assert_allclose(stored(index)[nodes[0].node_id], expected[0], atol=1e-5)


def test_async_index_build_embeds_the_pixels(documents, embed_model, vl_embedder):
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model, use_async=True)
    nodes, expected = image_vectors(index, vl_embedder)
    np.testing.assert_allclose([stored(index)[n.node_id] for n in nodes], expected, atol=1e-5)

    async def build():
        index = VectorStoreIndex([], embed_model=embed_model)
        await index.ainsert_nodes([ImageNode(image_path=nodes[0].image_path, metadata={"file_name": "x.png"})])
        return index

    (vector,) = stored(asyncio.run(build())).values()
    np.testing.assert_allclose(vector, expected[0], atol=1e-5)


class Recorder(BaseEventHandler):
    events: list = []

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event, **kwargs) -> None:
        if isinstance(event, (EmbeddingStartEvent, EmbeddingEndEvent)):
            self.events.append(event)


def test_image_and_multimodal_embedding_emit_events_per_batch(vl_embedder, image_paths):
    recorder = Recorder(events=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(recorder)
    try:
        model = Qwen3VLEmbedding(embedder=vl_embedder, embed_batch_size=2)
        vectors = model.get_image_embedding_batch(image_paths)
        model.get_multimodal_embeddings([{"image": image_paths[0], "text": "a chart"}])
    finally:
        dispatcher.event_handlers.remove(recorder)
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == ["EmbeddingStartEvent", "EmbeddingEndEvent"] * 3  # two image batches, one mixed batch
    assert np.allclose(recorder.events[1].embeddings + recorder.events[3].embeddings, vectors)
    assert recorder.events[5].chunks == ["[image] a chart"]


def test_progress_bar_advances_as_batches_finish(vl_embedder, image_paths, monkeypatch):
    from qwen3_vl_rag.integrations.llama_index import embedding

    seen = []
    model = Qwen3VLEmbedding(embedder=vl_embedder, embed_batch_size=1)
    real = model._embed

    class Bar:
        def __init__(self, total):
            self.n, self.total = 0, total

        def update(self, k):
            self.n += k

        def close(self):
            seen.append(("closed", self.n))

    bars = []
    monkeypatch.setattr(embedding, "_progress_bar", lambda total, show: bars.append(Bar(total)) or bars[-1])
    monkeypatch.setattr(type(model), "_embed", lambda self, batch, instruction=None: (
        seen.append(("embed", bars[0].n)), real(batch, instruction))[1])
    model.get_image_embedding_batch(image_paths, show_progress=True)
    # The bar shows 0, 1, 2 finished images while each batch is embedded, and 3 at the end.
    assert seen == [("embed", 0), ("embed", 1), ("embed", 2), ("closed", 3)]
    assert bars[0].total == 3


@pytest.mark.parametrize("show", [True])
def test_ingestion_pipeline_progress_for_images(vl_embedder, image_paths, show):
    from llama_index.core.ingestion import IngestionPipeline

    model = Qwen3VLEmbedding(embedder=vl_embedder)
    nodes = IngestionPipeline(transformations=[model]).run(
        nodes=[ImageNode(image_path=p) for p in image_paths], show_progress=show)
    np.testing.assert_allclose([n.embedding for n in nodes],
                               vl_embedder.embed_documents([{"image": p} for p in image_paths]), atol=1e-5)
