"""Concurrent callers: one forward pass at a time per model, same vectors as sequential calls."""

import asyncio
import threading

import numpy as np


def _overlap_probe(module):
    """Records the most forward passes ever in flight at once on a real module (hooks, no mocks)."""
    state = {"now": 0, "max": 0}
    guard = threading.Lock()

    def enter(*_):
        with guard:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])

    def leave(*_):
        with guard:
            state["now"] -= 1

    handles = [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    return state, handles


def test_async_gather_matches_sync_and_never_overlaps(vl_embedder):
    texts = [[f"text {i}", f"another {i} " * (i + 1)] for i in range(8)]
    expected = [vl_embedder.embed(batch) for batch in texts]
    state, handles = _overlap_probe(vl_embedder.model)

    async def run():
        return await asyncio.gather(*(vl_embedder.aembed(batch) for batch in texts))

    try:
        results = asyncio.run(run())
    finally:
        for handle in handles:
            handle.remove()
    assert state["max"] == 1
    for got, want in zip(results, expected):
        assert np.allclose(got, want, atol=1e-6)


def test_async_rerank_matches_sync(vl_reranker):
    documents = ["a", "bb", "ccc"]
    expected = vl_reranker.score("q", documents)

    async def run():
        return await asyncio.gather(*(vl_reranker.ascore("q", documents) for _ in range(4)))

    for got in asyncio.run(run()):
        assert np.allclose(got, expected, atol=1e-6)


# -- the one API: any iterable, protocols, instruction for documents, the batch hook ----------------------


def test_generators_give_the_same_scores_as_lists(vl_reranker, text_reranker):
    """Regression: ``score_pairs`` read ``pairs`` twice; a generator gave uninitialised memory."""
    documents = ["alpha", "beta beta", "", "gamma " * 5]
    for reranker in (vl_reranker, text_reranker):
        expected = reranker.score_pairs([("q", d) for d in documents])
        calls = []
        handle = reranker.model.register_forward_pre_hook(lambda *_, calls=calls: calls.append(1))
        try:
            from_generator = reranker.score_pairs(("q", d) for d in documents)
        finally:
            handle.remove()
        assert calls, "the model must run (the old code returned np.empty memory without a forward pass)"
        np.testing.assert_allclose(from_generator, expected, atol=1e-6)
        np.testing.assert_allclose(reranker.score("q", (d for d in documents)), expected, atol=1e-6)
        assert reranker.rerank("q", iter(documents), top_n=2) == reranker.rerank("q", documents, top_n=2)


def test_embed_accepts_any_iterable(vl_embedder):
    texts = ["one", "two two"]
    np.testing.assert_allclose(vl_embedder.embed(t for t in texts), vl_embedder.embed(texts), atol=1e-6)


def test_one_argument_order_and_embed_documents_takes_both_by_keyword(vl_embedder, vl_reranker):
    import pytest

    with pytest.raises(TypeError):
        vl_embedder.embed_documents(["a document"], 8)  # was dimensions; would now read as an instruction
    np.testing.assert_allclose(vl_embedder.embed_documents(["a document"], instruction="Find it", dimensions=8),
                               vl_embedder.embed(["a document"], "Find it", 8), atol=1e-6)
    with pytest.raises(TypeError, match="pass a list of pairs"):
        asyncio.run(vl_reranker.ascore_pairs("not pairs"))  # the derived twin reads its input as the sync one


def test_local_models_satisfy_the_protocols(vl_embedder, text_embedder, vl_reranker, text_reranker):
    from qwen3_vl_rag.core import Embedder, Reranker

    assert isinstance(vl_embedder, Embedder) and isinstance(text_embedder, Embedder)
    assert isinstance(vl_reranker, Reranker) and isinstance(text_reranker, Reranker)
    assert not isinstance(vl_reranker, Embedder)


def test_embed_documents_takes_an_instruction(vl_embedder, text_embedder):
    for embedder in (vl_embedder, text_embedder):
        with_instruction = embedder.embed_documents(["a document"], instruction="Find the topic")
        np.testing.assert_allclose(with_instruction, embedder.embed(["a document"], "Find the topic"), atol=1e-6)
        assert not np.allclose(with_instruction, embedder.embed_documents(["a document"]), atol=1e-4)


def test_batch_hook_sees_every_forward_pass(vl_embedder):
    seen = []
    remove = vl_embedder.on_batch(seen.append)
    items = ["short", "a much longer text " * 8, "mid length text here"]
    try:
        vl_embedder.embed(items)
    finally:
        remove()
    lengths = [len(e.ids) for e in vl_embedder.encode(items)]
    assert sum(s.rows for s in seen) == 3 and sum(s.real_tokens for s in seen) == sum(lengths)
    assert all(s.padded_tokens >= s.real_tokens and s.seconds >= 0 and s.path == "plain" for s in seen)
    vl_embedder.embed(["after removal"])
    assert sum(s.rows for s in seen) == 3


def test_a_checkpoint_of_the_wrong_kind_is_refused(tiny_text_path, tiny_vl_path):
    import pytest

    from qwen3_vl_rag.core import Qwen3TextEmbedder, Qwen3VLEmbedder, Qwen3VLReranker

    with pytest.raises(ValueError, match="'qwen3' checkpoint; Qwen3VLModel needs 'qwen3_vl'"):
        Qwen3VLEmbedder(str(tiny_text_path))
    with pytest.raises(ValueError, match="'qwen3' checkpoint"):
        Qwen3VLReranker(str(tiny_text_path))
    with pytest.raises(ValueError, match="'qwen3_vl' checkpoint"):
        Qwen3TextEmbedder(str(tiny_vl_path))


def test_unknown_constructor_arguments_are_refused(tiny_vl_path):
    import pytest

    from qwen3_vl_rag.core import Qwen3VLEmbedder

    with pytest.raises(TypeError):
        Qwen3VLEmbedder(str(tiny_vl_path), devcie="cpu")
