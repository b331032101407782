"""One attention call per image size in the vision tower (``EngineTuning.group_vision_attention``).

A Qwen3-VL vision tower packs every image (and every temporal patch of a video) of a batch into one flat
sequence. Without flash-attn, transformers splits it and runs one ``scaled_dot_product_attention`` per
image in every layer, after reading the image lengths back from the device (a synchronisation per layer).
A batch of 160 images on the 24-layer 2B tower is 3,840 small attention calls and 24 stalls.

Here the lengths are read once per forward pass, images of equal length are stacked into a batch
(``(images, heads, length, head_dim)``) and each size gets one SDPA call per layer: the same attention,
as the images never attend to each other either way. Images of one size are usually adjacent (the batch
planner sorts by length; a video's patches all have one size); when they are not, a gather puts them
together and a scatter puts the outputs back.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from itertools import accumulate, groupby
from typing import Any

# Attention scores one SDPA call may hold (images x heads x length^2): bounds memory where a kernel
# materialises them (the math kernel), without splitting the usual batches (16 images of 1,024 patches
# on 16 heads is 2^28).
MAX_SCORES_PER_CALL = 2**28


@dataclass(frozen=True)
class SegmentPlan:
    """How one forward pass's flat sequence splits into attention calls.

    ``calls``: (first token, images, length) per call, in the grouped token order; ``order``: the token
    permutation that groups equal lengths (None when they are grouped already).
    """

    calls: tuple[tuple[int, int, int], ...]
    order: Any = None  # torch.Tensor | None


def plan_segments(lengths: list[int], heads: int, device: Any) -> SegmentPlan:
    """Group segments of equal length into calls, each within ``MAX_SCORES_PER_CALL``."""
    import torch

    runs = [(length, len(list(group))) for length, group in groupby(lengths)]  # (length, segments)
    order = None
    if len({length for length, _ in runs}) < len(runs):  # one size in several places: gather it together
        starts = [0, *accumulate(lengths[:-1])]
        by_length = sorted(range(len(lengths)), key=lambda i: lengths[i])  # stable: keeps the input order
        order = torch.cat([torch.arange(starts[i], starts[i] + lengths[i]) for i in by_length]).to(device)
        runs = [(length, len(list(group))) for length, group in groupby(lengths[i] for i in by_length)]
    calls, start = [], 0
    for length, count in runs:
        per_call = max(1, MAX_SCORES_PER_CALL // max(1, heads * length * length))
        for first in range(0, count, per_call):
            images = min(per_call, count - first)
            calls.append((start, images, length))
            start += images * length
    return SegmentPlan(tuple(calls), order)


class _PlanCache:
    """The plan of the current forward pass: every layer receives the same ``cu_seqlens`` tensor."""

    def __init__(self) -> None:
        self.key: Any = None
        self.plan: SegmentPlan | None = None

    def get(self, cu_seqlens: Any, heads: int) -> SegmentPlan:
        if self.key is not cu_seqlens or self.plan is None:
            bounds = cu_seqlens.tolist()  # the one read-back per forward pass
            self.plan = plan_segments([b - a for a, b in zip(bounds, bounds[1:])], heads, cu_seqlens.device)
            self.key = cu_seqlens
        return self.plan


def _grouped_attention(plan: SegmentPlan, q: Any, k: Any, v: Any, scale: float) -> Any:
    """Attention of (tokens, heads, head_dim) q/k/v within each segment -> (tokens, heads * head_dim)."""
    import torch
    from torch.nn.functional import scaled_dot_product_attention

    _, heads, head_dim = q.shape
    if plan.order is not None:
        q, k, v = q[plan.order], k[plan.order], v[plan.order]
    outputs = []
    for start, images, length in plan.calls:
        # (images * length, heads, dim) -> (images, heads, length, dim)
        q_, k_, v_ = (t[start:start + images * length].view(images, length, heads, head_dim).transpose(1, 2)
                      for t in (q, k, v))
        out = scaled_dot_product_attention(q_, k_, v_, scale=scale)
        outputs.append(out.transpose(1, 2).reshape(images * length, heads * head_dim))
    out = torch.cat(outputs) if len(outputs) > 1 else outputs[0]
    if plan.order is not None:
        out = torch.empty_like(out).index_copy_(0, plan.order, out)
    return out


def _layout_mismatch(module: Any) -> str | None:
    """What of the layout this module's replacement assumes is missing (None: all there): fused ``qkv``,
    ``proj``, (cos, sin) vision RoPE; and no accelerate hook of its own (``device_map``), which replacing
    ``forward`` would bypass."""
    missing = [name for name in ("qkv", "proj", "num_heads", "scaling") if not hasattr(module, name)]
    parameters = set(inspect.signature(type(module).forward).parameters)
    missing += [f"forward({name}=)" for name in ("cu_seqlens", "position_embeddings") if name not in parameters]
    if not callable(getattr(sys.modules[type(module).__module__], "apply_rotary_pos_emb_vision", None)):
        missing.append(f"{type(module).__module__}.apply_rotary_pos_emb_vision")
    if missing:
        return f"{type(module).__name__} lacks {', '.join(missing)}"
    if hasattr(module, "_hf_hook"):
        return (f"{type(module).__name__} is dispatched by accelerate (device_map), whose hook a new forward "
                "would bypass")
    return None


def install_grouped_attention(model: Any, attn_implementation: str) -> int:
    """Group the vision attention of ``model`` (an explicit request): every ``*VisionAttention`` layer, or a
    ``ValueError`` saying why it cannot apply. Returns the layers changed."""
    import transformers

    if attn_implementation != "sdpa":
        raise ValueError(f"group_vision_attention=True needs attn_implementation='sdpa', not "
                         f"{attn_implementation!r} (flash_attention_2 runs one variable-length call already)")
    layers = [m for m in model.modules() if type(m).__name__.endswith("VisionAttention")]
    if not layers:
        raise ValueError(f"group_vision_attention=True: {type(model).__name__} has no vision attention layer "
                         "of the Qwen3-VL layout to group")
    mismatch = next((reason for reason in map(_layout_mismatch, layers) if reason), None)
    if mismatch:
        raise ValueError(f"group_vision_attention=True cannot apply with transformers {transformers.__version__}: "
                         f"{mismatch}")
    return group_vision_attention(model)


def group_vision_attention(model: Any) -> int:
    """Replace the per-image attention loop of ``model``'s vision tower; returns the layers changed.

    Only for sdpa: with flash_attention_2 transformers already runs one variable-length call.
    """
    cache = _PlanCache()
    changed = 0
    for module in model.modules():
        if not type(module).__name__.endswith("VisionAttention") or _layout_mismatch(module):
            continue
        rotate = sys.modules[type(module).__module__].apply_rotary_pos_emb_vision
        eager = module.forward

        def forward(hidden_states: Any, cu_seqlens: Any, *args: Any, _module: Any = module, _eager: Any = eager,
                    _rotate: Any = rotate, position_embeddings: Any = None, **kwargs: Any) -> Any:
            if args or position_embeddings is None or _module.training:
                return _eager(hidden_states, cu_seqlens, *args, position_embeddings=position_embeddings, **kwargs)
            tokens = hidden_states.shape[0]
            q, k, v = _module.qkv(hidden_states).reshape(tokens, 3, _module.num_heads, -1).unbind(1)
            q, k = _rotate(q, k, *position_embeddings)
            plan = cache.get(cu_seqlens, _module.num_heads)
            return _module.proj(_grouped_attention(plan, q, k, v, _module.scaling))

        module.forward = forward
        changed += 1
    return changed
