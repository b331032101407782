"""Qwen3VLEmbedding against the core embedder it wraps: same vectors, batching, async, nodes, serialisation."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time

import numpy as np
import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.schema import ImageDocument, ImageNode, MetadataMode, TextNode

from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding

from ...conftest import random_image
from .conftest import TEXTS


def close(a, b, atol=1e-5):
    return np.allclose(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32), atol=atol)


def test_text_and_query_vectors_are_the_core_embedders(embed_model, vl_embedder):
    docs = vl_embedder.embed_documents(TEXTS)
    assert close(embed_model.get_text_embedding(TEXTS[0]), docs[0])
    assert close(embed_model.get_text_embedding_batch(TEXTS), docs)
    query = embed_model.get_query_embedding("mountain at dawn")
    assert close(query, vl_embedder.embed_queries(["mountain at dawn"])[0])
    assert not close(query, vl_embedder.embed_documents(["mountain at dawn"])[0], atol=1e-3)  # instruction used
    assert isinstance(query[0], float) and len(query) == vl_embedder.dimension


def test_batches_of_embed_batch_size_give_the_same_vectors(vl_embedder):
    small = Qwen3VLEmbedding(embedder=vl_embedder, embed_batch_size=2)
    handler = LlamaDebugHandler()
    small.callback_manager = CallbackManager([handler])
    vectors = small.get_text_embedding_batch(TEXTS + ["one more", "and another"])
    assert close(vectors, vl_embedder.embed_documents(TEXTS + ["one more", "and another"]))
    assert len(handler.get_event_pairs(CBEventType.EMBEDDING)) == 3  # 5 texts in batches of 2


def test_images_as_path_bytesio_and_pil(embed_model, vl_embedder, image_paths):
    expected = vl_embedder.embed_documents([{"image": p} for p in image_paths])
    with open(image_paths[1], "rb") as f:
        buffer = io.BytesIO(f.read())
    assert close(embed_model.get_image_embedding(image_paths[1]), expected[1])
    assert close(embed_model.get_image_embedding(buffer), expected[1])
    assert close(embed_model.get_image_embedding(random_image(1, size=(80, 64))), expected[1])
    assert close(embed_model.get_image_embedding_batch(image_paths), expected)


def test_video_and_mixed_items(embed_model, vl_embedder, image_paths):
    frames = [random_image(seed) for seed in range(4)]
    video = embed_model.get_video_embedding(frames)
    assert close(video, vl_embedder.embed_documents([{"video": frames}])[0])
    items = ["a caption", {"image": image_paths[0], "text": "a chart"}, {"video": frames, "text": "a clip"}]
    assert close(embed_model.get_multimodal_embeddings(items), vl_embedder.embed_documents(items))
    assert close(embed_model.get_multimodal_embedding(items[1]), vl_embedder.embed_documents([items[1]])[0])
    videos = asyncio.run(embed_model.aget_video_embeddings([frames, frames[:2]]))
    assert close(videos, vl_embedder.embed_documents([{"video": frames}, {"video": frames[:2]}]))


def test_instructions_and_dimensions(vl_embedder):
    custom = Qwen3VLEmbedding(embedder=vl_embedder, query_instruction="Find charts.",
                              text_instruction="Represent the chart.", dimensions=16)
    query = custom.get_query_embedding("sales")
    assert len(query) == 16
    assert close(query, vl_embedder.embed(["sales"], instruction="Find charts.", dimensions=16)[0])
    assert close(custom.get_text_embedding("sales"),
                 vl_embedder.embed(["sales"], instruction="Represent the chart.", dimensions=16)[0])
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)


def test_async_gather_returns_the_sync_vectors(vl_embedder, image_paths):
    model = Qwen3VLEmbedding(embedder=vl_embedder, embed_batch_size=2)
    texts = [f"sentence number {i} about {TEXTS[i % 3][:20]}" for i in range(9)]

    async def run():
        return await asyncio.gather(
            model.aget_text_embedding_batch(texts),
            *(model.aget_text_embedding(t) for t in texts[:3]),
            model.aget_query_embedding("query"),
            model.aget_image_embedding_batch(image_paths),
            model.aget_multimodal_embeddings([{"image": image_paths[0], "text": "x"}, "y"]),
        )

    batch, t0, t1, t2, query, images, mixed = asyncio.run(run())
    assert close(batch, model.get_text_embedding_batch(texts))
    assert close([t0, t1, t2], [model.get_text_embedding(t) for t in texts[:3]])
    assert close(query, model.get_query_embedding("query"))
    assert close(images, model.get_image_embedding_batch(image_paths))
    assert close(mixed, model.get_multimodal_embeddings([{"image": image_paths[0], "text": "x"}, "y"]))


def test_concurrent_async_calls_never_overlap_forward_passes(vl_embedder, image_paths):
    """LlamaIndex launches every async batch at once; the model must still run one pass at a time."""
    state = {"active": 0, "peak": 0, "passes": 0}
    guard = threading.Lock()

    def enter(module, args, kwargs):
        with guard:
            state["active"] += 1
            state["passes"] += 1
            state["peak"] = max(state["peak"], state["active"])
        time.sleep(0.02)  # widen the window in which an overlapping pass would be seen

    def leave(module, args, kwargs, output):
        with guard:
            state["active"] -= 1

    model = Qwen3VLEmbedding(embedder=vl_embedder, embed_batch_size=1)
    handles = [vl_embedder.model.register_forward_pre_hook(enter, with_kwargs=True),
               vl_embedder.model.register_forward_hook(leave, with_kwargs=True)]
    try:
        async def run():
            return await asyncio.gather(
                model.aget_text_embedding_batch([f"text {i}" for i in range(6)]),
                model.aget_image_embedding_batch(image_paths),
                *(model.aget_query_embedding(f"q{i}") for i in range(3)),
            )

        results = asyncio.run(run())
    finally:
        for handle in handles:
            handle.remove()
    # Waiting calls share forward passes (the engine merges them), so there may be fewer passes than calls.
    assert state["passes"] >= 1 and state["peak"] == 1
    texts, images, *queries = results
    assert np.allclose(texts, vl_embedder.embed_documents([f"text {i}" for i in range(6)]), atol=1e-5)
    assert len(images) == len(image_paths) and len(queries) == 3


def test_call_embeds_image_nodes_as_images_and_text_nodes_as_text(embed_model, vl_embedder, image_paths):
    with open(image_paths[0], "rb") as f:
        b64 = base64.b64encode(f.read()).decode()
    text = TextNode(text="Solar panels.", metadata={"topic": "energy"})
    by_path = ImageNode(image_path=image_paths[0])
    by_data = ImageNode(image=b64)
    captioned = ImageNode(image_path=image_paths[1], text="a noisy picture")
    in_metadata = TextNode(text="", metadata={"file_path": image_paths[2]})
    document = ImageDocument(image_path=image_paths[2])
    nodes = [text, by_path, by_data, captioned, in_metadata, document]
    assert embed_model(nodes) is nodes

    expected = vl_embedder.embed_documents([
        text.get_content(metadata_mode=MetadataMode.EMBED),
        {"image": image_paths[0]},
        {"image": image_paths[0]},
        {"image": image_paths[1], "text": captioned.get_content(metadata_mode=MetadataMode.EMBED)},
        {"image": image_paths[2]},
        {"image": image_paths[2]},
    ])
    assert close([n.embedding for n in nodes], expected)
    assert close(text.embedding, embed_model.get_text_embedding(text.get_content(metadata_mode=MetadataMode.EMBED)))
    assert close(by_path.embedding, embed_model.get_image_embedding(image_paths[0]))

    fresh = [TextNode(text="Solar panels.", metadata={"topic": "energy"}), ImageNode(image_path=image_paths[0])]
    asyncio.run(embed_model.acall(fresh))
    assert close([n.embedding for n in fresh], expected[:2])


def test_call_re_embeds_nodes_like_base_embedding(embed_model):
    node = TextNode(text="hello", embedding=[0.0] * 4)
    embed_model([node])
    assert len(node.embedding) == embed_model.embedder.dimension


def test_serialisation_round_trip_without_weights(embed_model, tiny_vl_path):
    model = Qwen3VLEmbedding(model_name=str(tiny_vl_path), dimensions=32, query_instruction="Find it.",
                             embedder_kwargs={"device": "cpu", "torch_dtype": "float32"})
    data = model.to_dict()
    assert data["class_name"] == Qwen3VLEmbedding.class_name() == "Qwen3VLEmbedding"
    assert len(json.dumps(data)) < 2000  # configuration only, no weights
    assert "_embedder" not in data and "embedder" not in data
    copy = Qwen3VLEmbedding.from_dict(data)
    assert copy.embedder is not model.embedder
    assert (copy.model_name, copy.dimensions, copy.query_instruction, copy.model_kwargs) == (
        str(tiny_vl_path), 32, "Find it.", {"device": "cpu", "torch_dtype": "float32"})
    assert close(copy.get_query_embedding("x"), model.get_query_embedding("x"))
    assert Qwen3VLEmbedding.from_json(model.to_json()).dimensions == 32


def test_conflicting_arguments_are_errors(vl_embedder):
    with pytest.raises(ValueError, match="either embedder"):
        Qwen3VLEmbedding(embedder=vl_embedder, embedder_kwargs={"device": "cpu"})
    with pytest.raises(ValueError, match="conflicts"):
        Qwen3VLEmbedding("Qwen/Qwen3-VL-Embedding-8B", embedder=vl_embedder)


def test_multimodal_vector_store_index_builds_and_retrieves(embed_model, image_paths):
    from llama_index.core.indices import MultiModalVectorStoreIndex

    # VectorStoreIndex drops nodes whose EMBED content is "": an image node needs text or metadata.
    nodes = [TextNode(text=t) for t in TEXTS] + [ImageNode(image_path=p, metadata={"file_path": p})
                                                 for p in image_paths]
    index = MultiModalVectorStoreIndex(nodes, embed_model=embed_model, image_embed_model=embed_model)
    retriever = index.as_retriever(similarity_top_k=3, image_similarity_top_k=3)
    hits = retriever.retrieve("solar electricity")
    kinds = {type(hit.node).__name__ for hit in hits}
    assert kinds == {"TextNode", "ImageNode"}
    assert len(hits) == 6
    assert sorted(hit.node.image_path for hit in hits if isinstance(hit.node, ImageNode)) == sorted(image_paths)
    assert all(isinstance(hit.score, float) for hit in hits)



def test_token_counting_handler_sees_text_tokens_and_survives_images(vl_embedder, image_paths):
    """Regression: the callback payload held image items (dicts), and TokenCountingHandler crashed on them."""
    from llama_index.core.callbacks import CallbackManager, TokenCountingHandler

    handler = TokenCountingHandler(tokenizer=lambda text: text.split())
    model = Qwen3VLEmbedding(embedder=vl_embedder, callback_manager=CallbackManager([handler]))
    model.get_text_embedding_batch(["one two three", "four five"])
    assert handler.total_embedding_token_count == 5
    model.get_image_embedding_batch(image_paths)
    model.get_multimodal_embeddings([{"image": image_paths[0], "text": "six seven"}])
    assert handler.total_embedding_token_count == 7


async def test_precision_float16_rounds_every_path_and_the_codes_are_refused(vl_embedder):
    from llama_index.core.bridge.pydantic import ValidationError

    half = Qwen3VLEmbedding(embedder=vl_embedder, precision="float16", dimensions=16)
    docs = vl_embedder.embed_documents(TEXTS, dimensions=16, precision="float16").astype(np.float64).tolist()
    assert half.get_text_embedding_batch(TEXTS) == docs and await half.aget_text_embedding_batch(TEXTS) == docs
    query = vl_embedder.embed_queries(["dawn"], dimensions=16, precision="float16")[0].astype(np.float64).tolist()
    assert half.get_query_embedding("dawn") == query and await half.aget_query_embedding("dawn") == query
    assert half.identity.precision == "float16"
    node = half([TextNode(text=TEXTS[0])])[0]
    assert node.metadata["embedding_space"].endswith("|float16") and node.embedding == docs[0]
    assert Qwen3VLEmbedding.from_dict(half.to_dict(), embedder=vl_embedder).precision == "float16"
    for code in ("int8", "binary"):
        with pytest.raises(ValidationError, match=f"precision={code!r}.*is not offered.*wrong rankings"):
            Qwen3VLEmbedding(embedder=vl_embedder, precision=code)
