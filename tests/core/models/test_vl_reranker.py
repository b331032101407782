"""Qwen3VLReranker: official prompt, truncation and score; batching that changes nothing but speed."""

import random

import numpy as np
import pytest
import torch

from qwen3_vl_rag.core import InputError, Qwen3VLReranker

from ...conftest import random_image

SYSTEM = ('<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the '
          'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n')
INSTRUCT = "<Instruct>: Given a search query, retrieve relevant candidates that answer the query."
END = "<|im_end|>\n<|im_start|>assistant\n"
IMG = "<|vision_start|><|image_pad|><|vision_end|>"
VID = "<|vision_start|><|video_pad|><|vision_end|>"


@pytest.mark.parametrize(
    "query, document, body",
    [
        ("a cat", "a small cat", "<Query>:a cat\n<Document>:a small cat"),
        ("a cat", {"image": "IMG"}, "<Query>:a cat\n<Document>:" + IMG),
        ({"image": "IMG"}, "a cat", "<Query>:" + IMG + "\n<Document>:a cat"),
        ({"text": "which clip", "image": "IMG"}, {"video": ["F", "F"], "text": "clip", "image": "IMG"},
         "<Query>:" + IMG + "which clip\n<Document>:" + VID + IMG + "clip"),
        ("q", "", "<Query>:q\n<Document>:NULL"),
    ],
)
def test_rendered_prompt(vl_reranker, query, document, body):
    assert vl_reranker.render_prompt(query, document) == SYSTEM + INSTRUCT + body + END


def test_instruction_is_used_verbatim(vl_reranker):
    assert "<Instruct>: find photos<Query>:" in vl_reranker.render_prompt("q", "d", instruction="find photos")
    assert "<Instruct>: per item<Query>:" in vl_reranker.render_prompt({"text": "q", "instruction": "per item"}, "d")


def test_token_ids_with_the_real_vocabulary(tiny_vl_real_vocab_path):
    reranker = Qwen3VLReranker(str(tiny_vl_real_vocab_path))
    ids = reranker.encode([("a cat", {"image": random_image(0, size=(64, 64))})])[0].ids
    tokenizer = reranker.encoder.tokenizer
    assert ids[-5:] == [151645, 198, 151644, 77091, 198]
    start = ids.index(151652)
    assert ids[start: start + 6] == [151652] + [151655] * 4 + [151653]
    assert tokenizer.decode(ids) == (SYSTEM + INSTRUCT + "<Query>:a cat\n<Document>:"
                                     + "<|vision_start|>" + "<|image_pad|>" * 4 + "<|vision_end|>" + END)


def _official_scores(model_path, reranker, pairs):
    """The official computation: one pair per forward pass, full vocabulary logits at the last position,
    softmax over [no, yes]."""
    from transformers import Qwen3VLForConditionalGeneration

    model = Qwen3VLForConditionalGeneration.from_pretrained(model_path).eval()
    tokenizer = reranker.encoder.tokenizer
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    scores = []
    for encoded in reranker.encode(pairs):
        encoded = encoded.loaded()  # image pixels are loaded batch by batch; here, one pair at a time
        ids = torch.tensor([encoded.ids])
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        if encoded.pixel_values is not None:
            types = (inputs["input_ids"] == reranker.encoder.image_token_id).int()
            inputs.update(pixel_values=encoded.pixel_values, image_grid_thw=encoded.image_grid_thw,
                          mm_token_type_ids=types)
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1, [no, yes]]
        scores.append(torch.softmax(logits, dim=-1)[1].item())
    return np.array(scores)


def test_scores_equal_the_official_one_pair_per_forward_computation(vl_reranker, tiny_vl_path):
    image = random_image(1, size=(96, 64))
    pairs = [("q one", "short"), ("q two", "a much longer document " * 12), ("q", {"image": image}),
             ({"image": image}, "caption"), ("q", {"text": "t", "image": image})]
    batched = vl_reranker.score_pairs(pairs)
    assert np.allclose(batched, _official_scores(tiny_vl_path, vl_reranker, pairs), atol=1e-5)


def test_batched_equals_one_pair_at_a_time_whatever_the_batch(vl_reranker):
    frames = [random_image(20 + i, size=(48, 48)) for i in range(2)]
    documents = ["d", "longer document " * 30, random_image(2), {"text": "x", "image": random_image(3)},
                 {"video": frames}, "", "中文文档", random_image(4, size=(300, 40))] * 2
    alone = np.array([vl_reranker.score("the query", [d])[0] for d in documents])
    order = list(range(len(documents)))
    random.Random(1).shuffle(order)
    vl_reranker.max_batch_size = 3
    try:
        shuffled = vl_reranker.score("the query", [documents[i] for i in order])
    finally:
        vl_reranker.max_batch_size = 64
    together = np.empty_like(shuffled)
    together[order] = shuffled
    assert np.abs(alone - together).max() <= 1e-5
    assert ((together >= 0) & (together <= 1)).all() and together.dtype == np.float32


def test_over_long_document_keeps_vision_tokens_and_the_final_five(tiny_vl_path):
    reranker = Qwen3VLReranker(str(tiny_vl_path), max_length=80)
    image = random_image(5, size=(64, 64))
    encoded = reranker.encode([("query", {"image": image, "text": "filler " * 300})])[0]
    suffix = reranker.encoder.suffix_len
    assert len(encoded.ids) == 80 + suffix  # the official rule: body capped at max_length, suffix re-added
    assert encoded.ids.count(reranker.encoder.image_token_id) == 4
    assert reranker.encoder.tokenizer.decode(encoded.ids[-suffix:]) == END
    assert 0.0 <= reranker.score("query", [{"image": image, "text": "filler " * 300}])[0] <= 1.0


def test_rerank_top_n_empty_and_bad_items(vl_reranker):
    documents = ["a", "bb", "ccc", "dddd"]
    scores = vl_reranker.score("q", documents)
    ranking = vl_reranker.rerank("q", documents, top_n=2)
    assert [i for i, _ in ranking] == list(np.argsort(-scores)[:2])
    assert all(isinstance(s, float) for _, s in ranking)
    assert len(vl_reranker.rerank("q", documents)) == 4
    assert vl_reranker.rerank("q", []) == [] and vl_reranker.score("q", []).shape == (0,)
    with pytest.raises(InputError) as info:
        vl_reranker.score("q", ["fine", {"image": "/missing.png"}])
    assert info.value.index == 1 and "file not found" in info.value.reason
    with pytest.raises(InputError) as info:
        vl_reranker.score_pairs([("q", "d"), ("only one",)])
    assert info.value.index == 1


def _plain_scores(reranker, pairs):
    """Scores from the plain batched path (the shared-prefix reuse switched off for one call)."""
    reranker.reuse_query_prefix = False
    try:
        return reranker.score_pairs(pairs)
    finally:
        reranker.reuse_query_prefix = True


def _forward_widths(model):
    widths = []
    handle = model.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True)
    return widths, handle


@pytest.mark.parametrize("query", ["a text query", {"image": "IMAGE", "text": "what is this"}])
def test_shared_query_prefix_gives_the_same_scores_with_less_work(vl_reranker, query):
    if isinstance(query, dict):
        query = {**query, "image": random_image(6, size=(96, 64))}
    documents = ["short", "The capital of China is Beijing.", "", "a longer document " * 15, "中文文档"] * 2
    plain = _plain_scores(vl_reranker, [(query, d) for d in documents])
    widths, handle = _forward_widths(vl_reranker.model)
    try:
        shared = vl_reranker.score(query, documents)
    finally:
        handle.remove()
    assert np.abs(plain - shared).max() <= 1e-5
    full_lengths = [len(e.ids) for e in vl_reranker.encode([(query, d) for d in documents])]
    prefix = widths[0]
    assert prefix >= 16 and all(w <= max(full_lengths) - prefix for w in widths[1:])


def test_documents_with_images_use_the_plain_path(vl_reranker):
    documents = ["text", {"image": random_image(7)}]
    widths, handle = _forward_widths(vl_reranker.model)
    try:
        scores = vl_reranker.score("q", documents)
    finally:
        handle.remove()
    assert len(widths) == 1  # one ordinary batch of full prompts
    assert np.allclose(scores, [vl_reranker.score("q", [d])[0] for d in documents], atol=1e-5)


def test_score_pairs_groups_pairs_by_query_for_prefix_reuse(vl_reranker):
    image_query = {"image": random_image(8, size=(64, 64)), "text": "which one"}
    pairs = [(q, d) for d in ["alpha", "beta " * 10, "", "gamma"] for q in ("first query", image_query)]
    plain = _plain_scores(vl_reranker, pairs)
    computed = []
    handle = vl_reranker.model.register_forward_pre_hook(
        lambda module, args, kwargs: computed.append(kwargs["input_ids"].numel()), with_kwargs=True)
    try:
        grouped = vl_reranker.score_pairs(pairs)
    finally:
        handle.remove()
    assert np.abs(plain - grouped).max() <= 1e-5
    assert sum(computed) < sum(len(e.ids) for e in vl_reranker.encode(pairs))  # each prefix ran once
