"""Score many documents for one query while computing the shared query prefix once.

Every pair of one query starts with the same tokens (system prompt, instruction, query, the
``<Document>:`` marker). The prefix runs once with a KV cache; each batch of documents then runs
only its own tokens against a copy of that cache. Applies when the documents add no vision tokens
(the query may have images or video) and when the shared prefix is at least ``MIN_PREFIX_SHARE`` of
the mean pair (below that, the saved tokens do not pay for the cache copies and the smaller batches);
otherwise the caller uses the plain batched path.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from .batches import Encoded, collate
from .runner import Head, Runner, sdpa_context

MIN_SHARED_PREFIX = 16  # tokens: below this the copies of the cache cost more than they save
MIN_PREFIX_SHARE = 0.2  # of the mean pair length: below this the plain path's full batches win
# The documents' batches are planned with this share of ``batch_overhead_tokens``: here every padded token
# also attends over the prefix and every row carries a copy of its cache, so smaller, tighter batches win.
# CPU, bench model, 1x100 (``score``, 5 interleaved rounds, median): 32 tokens (1/8 of the CPU default)
# 5.61 s, 256 tokens 5.86 s; another 4 rounds: 32: 5.40 s, 64: 5.55, 128: 5.64, 256: 5.70; 0: about 7.5.
PREFIX_BATCH_COST_SHARE = 1 / 8


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Tokens all sequences share at the start, leaving at least one token of each outside it."""
    first = sequences[0]
    limit = min(len(s) for s in sequences) - 1
    length = 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


def _cache_argument(model: Any) -> str:
    """transformers >= 5.24 names the KV cache ``cache`` (``past_key_values`` is removed in 5.40)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _returned_cache(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def shared_prefix_scores(runner: Runner, encoded: Sequence[Encoded], head: Head,
                         vision_ids: Collection[int]) -> np.ndarray | None:
    """Scores for ``encoded`` (pairs of one query) via a shared-prefix KV cache, or None if not applicable.

    The result equals the plain path up to float rounding: the documents see the same positions and the
    same keys and values. Runs under the runner's lock and reports each forward pass to its hooks.
    """
    import torch

    if len(encoded) < 2:
        return None
    prefix_len = common_prefix_length([e.ids for e in encoded])
    rests = [e.ids[prefix_len:] for e in encoded]
    mean_length = sum(len(e.ids) for e in encoded) / len(encoded)
    if prefix_len < max(MIN_SHARED_PREFIX, MIN_PREFIX_SHARE * mean_length):
        return None
    if any(set(vision_ids).intersection(r) for r in rests):
        return None
    model, device = runner.model, runner.device
    first = encoded[0]
    prefix = Encoded(first.ids[:prefix_len], first.pixel_values, first.image_grid_thw,
                     first.pixel_values_videos, first.video_grid_thw, first.index, first.pending).loaded()
    has_media = prefix.image_grid_thw is not None or prefix.video_grid_thw is not None
    cache_arg = _cache_argument(model)
    out = np.empty(len(encoded), dtype=np.float32)
    with runner.lock, torch.inference_mode(), sdpa_context(runner.tuning.sdpa_kernels):
        inputs, _ = collate([prefix], runner.pad_id, device, runner.image_token_id, runner.video_token_id)
        with runner.timed("prefix", 1, prefix_len, prefix_len):
            cache = _returned_cache(model(**inputs, use_cache=True))
        # multimodal RoPE: text after the vision tokens continues at (position + delta)
        delta = int(model.rope_deltas.reshape(-1)[0]) if has_media else 0
        lengths_all = [len(r) for r in rests]
        for batch in runner.plan(lengths_all, cost_share=PREFIX_BATCH_COST_SHARE):
            rest, lengths = collate([Encoded(rests[i]) for i in batch], runner.pad_id, device,
                                    width=runner.width(max(lengths_all[i] for i in batch)))
            width = rest["input_ids"].shape[1]
            with runner.timed("prefix", len(batch), sum(lengths), len(batch) * width):
                positions = torch.arange(prefix_len, prefix_len + width, device=device).expand(len(batch), -1)
                position_ids = torch.cat([positions[None], (positions + delta)[None].expand(3, -1, -1)])
                attention = torch.cat([torch.ones(len(batch), prefix_len, dtype=rest["attention_mask"].dtype,
                                                  device=device), rest["attention_mask"]], dim=1)
                batch_cache = copy.deepcopy(cache)
                batch_cache.batch_repeat_interleave(len(batch))
                hidden = model(input_ids=rest["input_ids"], attention_mask=attention, position_ids=position_ids,
                               use_cache=True, **{cache_arg: batch_cache}).last_hidden_state
                rows = torch.arange(len(batch), device=device)
                out[batch] = head(hidden[rows, torch.as_tensor(lengths, device=device) - 1]).cpu().numpy()
    return out
