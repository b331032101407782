"""Padding-free batches (``pack_sequences``): the same vectors and scores as padded batches, no padding.

On the CPU the packed path runs with sdpa in float32: transformers builds a block-diagonal causal mask
from the restarting positions. The flash-attention layout (one row per batch) is run here with sdpa too,
by telling the Runner its model uses flash_attention_2 (the only part that cannot run without a GPU);
the real flash varlen kernel is tested where flash-attn and CUDA exist.
"""

import random
from dataclasses import replace

import numpy as np
import pytest

from qwen3_vl_rag.core import EngineTuning, Qwen3Reranker, Qwen3TextEmbedder, Qwen3VLEmbedder, Qwen3VLReranker
from qwen3_vl_rag.core.engine.accelerations.packing import collate_packed, pack_rows, packed_batches
from qwen3_vl_rag.core.engine.batches import Encoded

from ...conftest import random_image

WORDS = ["river", "stone", "bank", "water", "flows", "under", "the", "old", "bridge", "at", "dawn", "中文"]


def long_tailed_texts(n: int, seed: int = 0) -> list[str]:
    """Texts from one word to a few hundred tokens, most of them short (a Pareto tail, capped)."""
    rng = random.Random(seed)
    lengths = [1, 2, 300] + [min(150, int(rng.paretovariate(1.1) * 2)) for _ in range(n - 3)]
    return [" ".join(rng.choice(WORDS) for _ in range(k)) for k in lengths]


def _runs(model, call):
    """(result, BatchStats of each forward pass) of ``call()`` on ``model``."""
    seen = []
    remove = model.on_batch(seen.append)
    try:
        return call(), seen
    finally:
        remove()


def test_pack_rows_fill_rows_and_keep_each_index_once():
    lengths = [300, 5, 700, 1200, 40, 40, 990, 1, 33]
    rows = pack_rows(lengths, 1024)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert rows[0] == [3]  # longer than a row: a row of its own, first
    assert all(sum(lengths[i] for i in row) <= 1024 for row in rows[1:])
    assert len(rows) == 4  # 1200 | 990+33+1 | 700+300 | 40+40+5 (best fit)


def test_one_row_per_batch_is_padding_free():
    lengths = [random.Random(1).randint(1, 300) for _ in range(500)]
    batches = packed_batches(lengths, 4096, 1, 4096)
    assert all(len(rows) == 1 for rows in batches)
    assert sorted(i for rows in batches for row in rows for i in row) == list(range(500))
    assert all(sum(lengths[i] for i in rows[0]) <= 4096 for rows in batches)
    assert len(batches) == -(-sum(lengths) // 4096)  # rows are full but the last


@pytest.mark.parametrize("cls", [Qwen3TextEmbedder, Qwen3VLEmbedder])
def test_packed_embeddings_equal_padded_ones(cls, tiny_text_path, tiny_vl_path):
    path = tiny_text_path if cls is Qwen3TextEmbedder else tiny_vl_path
    texts = long_tailed_texts(120)
    padded = cls(str(path), max_batch_tokens=2048)
    packed = cls(str(path), max_batch_tokens=2048, tuning=EngineTuning(pack_sequences=True))
    assert max(len(ids) for ids in padded.tokenizer(texts)["input_ids"]) >= 300
    expected, plain = _runs(padded, lambda: padded.embed(texts))
    got, stats = _runs(packed, lambda: packed.embed(texts))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert sum(s.rows for s in stats) == len(texts)
    assert len(stats) < len(plain)  # packed rows hold the short tail in fewer passes
    assert sum(s.padded_tokens for s in stats) < sum(s.padded_tokens for s in plain)


@pytest.mark.parametrize("cls", [Qwen3Reranker, Qwen3VLReranker])
def test_packed_scores_equal_padded_ones(cls, tiny_text_path, tiny_vl_path):
    path = tiny_text_path if cls is Qwen3Reranker else tiny_vl_path
    texts = long_tailed_texts(80, seed=1)
    pairs = [(texts[(i * 7) % len(texts)], doc) for i, doc in enumerate(texts)]
    extra = {"reuse_query_prefix": False} if cls is Qwen3VLReranker else {}  # the prefix path stays padded
    padded = cls(str(path), max_batch_tokens=2048, **extra)
    packed = cls(str(path), max_batch_tokens=2048, **extra, tuning=EngineTuning(pack_sequences=True))
    np.testing.assert_allclose(packed.score_pairs(pairs), padded.score_pairs(pairs), atol=1e-5)


def test_packed_sequences_do_not_see_each_other(text_embedder, tiny_text_path):
    """Each text embedded alone equals the same text packed with others into one row: the block mask holds."""
    texts = [t for t in long_tailed_texts(14, seed=2) if len(t.split()) < 100]  # all fit one row
    packed = Qwen3TextEmbedder(str(tiny_text_path), tuning=EngineTuning(pack_sequences=True))
    together, stats = _runs(packed, lambda: packed.embed(texts))
    assert len(stats) == 1 and stats[0].rows == len(texts)
    assert stats[0].padded_tokens == stats[0].real_tokens  # one row: no padding at all
    alone = np.stack([text_embedder.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_flash_layout_one_row_per_batch_has_no_padding(tiny_text_path):
    """The layout the Runner gives flash_attention_2 (one packed row per batch), run with sdpa's block mask."""
    texts = long_tailed_texts(150, seed=3)
    padded = Qwen3TextEmbedder(str(tiny_text_path))
    packed = Qwen3TextEmbedder(str(tiny_text_path), max_batch_tokens=2048, tuning=EngineTuning(pack_sequences=True))
    packed.runner.runtime = replace(packed.runner.runtime, attn_implementation="flash_attention_2")
    got, stats = _runs(packed, lambda: packed.embed(texts))
    np.testing.assert_allclose(got, padded.embed(texts), atol=1e-5)
    assert len(stats) > 1
    assert all(s.padded_tokens == s.real_tokens for s in stats)
    assert sum(s.real_tokens for s in stats) == sum(len(i) for i in padded.tokenizer(texts)["input_ids"])


VARLEN_CALLS: list[int] = []  # sequences per call of varlen_reference


def varlen_reference(module, query, key, value, attention_mask, scaling=None, dropout=0.0, cu_seq_lens_q=None,
                     cu_seq_lens_k=None, max_length_q=None, max_length_k=None, **kwargs):
    """flash_attention_2's contract on one packed row, in plain torch: causal attention within each sequence,
    the sequences read from the variable-length arguments alone (flash-attn's kernel needs a GPU)."""
    torch = pytest.importorskip("torch")
    assert query.shape[0] == 1 and cu_seq_lens_q is not None, "one packed row without its sequence boundaries"
    assert cu_seq_lens_k is cu_seq_lens_q and cu_seq_lens_q.dtype == torch.int32
    bounds = cu_seq_lens_q.tolist()
    assert bounds[-1] == query.shape[2] and max_length_q == max_length_k == max(np.diff(bounds))
    VARLEN_CALLS.append(len(bounds) - 1)
    outputs = [torch.nn.functional.scaled_dot_product_attention(
        query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], is_causal=True, scale=scaling, enable_gqa=True)
        for a, b in zip(bounds, bounds[1:])]
    return torch.cat(outputs, 2).transpose(1, 2).contiguous(), None


@pytest.mark.parametrize("cls", [Qwen3TextEmbedder, Qwen3VLEmbedder])
def test_flash_layout_passes_the_sequence_boundaries(cls, tiny_text_path, tiny_vl_path):
    """The one packed row of flash_attention_2 carries its sequences' boundaries, so transformers does not
    derive them from the positions in every layer (a device read-back per layer). The attention here is
    ``varlen_reference``, registered as a transformers attention function, which fails without them."""
    from transformers import AttentionInterface

    AttentionInterface.register("varlen_reference", varlen_reference)
    path = tiny_text_path if cls is Qwen3TextEmbedder else tiny_vl_path
    texts = long_tailed_texts(60, seed=5)
    packed = cls(str(path), attn_implementation="varlen_reference", max_batch_tokens=1024,
                 tuning=EngineTuning(pack_sequences=True))
    packed.runner.runtime = replace(packed.runner.runtime, attn_implementation="flash_attention_2")
    VARLEN_CALLS.clear()
    got, stats = _runs(packed, lambda: packed.embed(texts))
    np.testing.assert_allclose(got, cls(str(path)).embed(texts), atol=1e-5)
    layers = packed.model.config.get_text_config().num_hidden_layers
    assert len(VARLEN_CALLS) == layers * len(stats) and sum(VARLEN_CALLS) == layers * len(texts)


def test_boundaries_only_for_one_text_row():
    """Several rows (sdpa's block mask) or media (the vision tower takes the language model's keyword
    arguments too) keep the positions alone."""
    torch = pytest.importorskip("torch")
    one, two = Encoded([5, 6, 7]), Encoded([8, 9])
    inputs, ends, _ = collate_packed([[one, two]], 0, "cpu", varlen_boundaries=True)
    assert inputs["cu_seq_lens_q"].tolist() == [0, 3, 5] and inputs["max_length_q"] == 3 and ends == [3, 5]
    assert "cu_seq_lens_q" not in collate_packed([[one], [two]], 0, "cpu", varlen_boundaries=True)[0]
    assert "cu_seq_lens_q" not in collate_packed([[one, two]], 0, "cpu")[0]
    image = Encoded([5, 1, 1, 6], pixel_values=torch.zeros(16, 8), image_grid_thw=torch.tensor([[1, 4, 4]]))
    rope = lambda input_ids, image_grid_thw=None, video_grid_thw=None, **_: (  # noqa: E731
        torch.arange(input_ids.shape[1]).expand(3, 1, -1), None)
    with_media = collate_packed([[image, two]], 0, "cpu", image_token_id=1, video_token_id=2, rope_index=rope,
                                varlen_boundaries=True)[0]
    assert "pixel_values" in with_media and "cu_seq_lens_q" not in with_media


def test_packed_media_use_each_sequence_own_multimodal_positions(vl_embedder, tiny_vl_path):
    """Images and videos packed with texts: each sequence's 3-D RoPE positions are its own."""
    frames = [random_image(10 + i, size=(64, 48)) for i in range(3)]
    items = ["short", random_image(5), {"text": "caption", "image": random_image(6, size=(200, 40))},
             {"video": frames, "text": "clip"}, "a longer text about rivers " * 9, {"image": [random_image(8),
             random_image(9)]}, "x", random_image(7, size=(33, 257))]
    packed = Qwen3VLEmbedder(str(tiny_vl_path), tuning=EngineTuning(pack_sequences=True))
    got, stats = _runs(packed, lambda: packed.embed(items))
    assert sum(s.rows for s in stats) == len(items) and max(s.rows for s in stats) >= 6  # media share a row
    assert all(s.padded_tokens == s.real_tokens for s in stats)  # one row per pass here
    np.testing.assert_allclose(got, vl_embedder.embed(items), atol=1e-5)


def test_flash_attention_varlen_matches_padded(tiny_text_path, tiny_vl_path):
    """The real variable-length flash kernel: packed equals padded within bfloat16 noise."""
    pytest.importorskip("flash_attn", reason="flash-attn is not installed (GPU machines only)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("flash_attention_2 needs a CUDA device")
    texts = long_tailed_texts(200, seed=4)
    frames = [random_image(10 + i, size=(64, 48)) for i in range(3)]
    items = texts[:50] + [random_image(5), {"video": frames, "text": "clip"}]
    for cls, path, inputs in ((Qwen3TextEmbedder, tiny_text_path, texts), (Qwen3VLEmbedder, tiny_vl_path, items)):
        kwargs = {"device": "cuda", "dtype": "bfloat16", "attn_implementation": "flash_attention_2"}
        packed = cls(str(path), **kwargs, tuning=EngineTuning(pack_sequences=True))
        assert packed.options.tuning.pack_sequences is True
        padded = cls(str(path), **kwargs)
        got, stats = _runs(packed, lambda m=packed, x=inputs: m.embed(x))
        assert all(s.padded_tokens == s.real_tokens for s in stats)
        assert (got * padded.embed(inputs)).sum(1).min() > 0.99
