"""Opt-in kernel fusion: ``torch.compile`` of the language tower (``EngineTuning.compile``).

What is compiled: the decoder stack that every text token goes through (``language_model`` of a Qwen3-VL
backbone, the whole model of a Qwen3 text model). The vision tower stays eager: image shapes vary per
batch. The compiled path serves the plain batched forward only; a call with a KV cache (the reranker's
shared-prefix path) or with vision features to add between layers (DeepStack: data-dependent positions,
which would split the graph) runs the same module eagerly.

Bounded compilations: the batch's rows and padded length are marked dynamic before each call, so one
graph serves every batch of two rows or more and a second one the single-row batches (torch specialises
sizes 0 and 1). Measured on a 200-text long-tailed corpus (1..300 tokens, tiny model, ``aot_eager``):
2 graphs in 4-11 s; with static lengths (rows dynamic) one graph per length bucket, 18 graphs in 40 s;
bucketing the rows instead of marking them would multiply that by the number of row buckets. Batch
lengths stay bucketed (``shape_buckets``) so the kernels that plan or record per exact shape (cuDNN
attention, CUDA graphs in ``"reduce-overhead"``) still see a few dozen lengths at most.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from typing import Any

MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
RECOMPILE_LIMIT = 64  # per code object, shared by every compiled tower in the process; shapes are bounded here
_DYNAMIC_DIMS = {"input_ids": (0, 1), "inputs_embeds": (0, 1), "attention_mask": (0, 1), "position_ids": (-2, -1)}


def compile_arguments(compile: bool | str) -> dict[str, Any]:
    """``torch.compile`` arguments for the option's value: True is inductor's default mode; a string is an
    inductor mode (``MODES``) or a backend name (``torch._dynamo.list_backends``, e.g. ``"aot_eager"``)."""
    import torch

    if compile is True:
        return {}
    assert isinstance(compile, str)
    if compile in MODES:
        return {"mode": compile}
    backends = torch._dynamo.list_backends(exclude_tags=())
    if compile not in backends:
        raise ValueError(f"compile={compile!r} is neither a torch.compile mode {MODES} nor a backend {backends}")
    return {"backend": compile}


def compile_language_tower(model: Any, compile: bool | str, device_map: Any) -> bool:
    """Route the plain forward passes of ``model``'s language tower through ``torch.compile``.

    Returns False (after one warning) where compiling cannot work: a model sharded with ``device_map``
    (the accelerate hooks move tensors between devices mid-graph) or a Python that dynamo does not support.
    """
    import torch
    from torch._dynamo.eval_frame import is_dynamo_supported

    arguments = compile_arguments(compile)
    reason = ("the model is sharded with device_map" if device_map is not None
              else None if is_dynamo_supported() else "torch.compile does not support this Python")
    if reason:
        warnings.warn(f"compile={compile!r} is unavailable ({reason}); running eagerly", RuntimeWarning, stacklevel=4)
        return False
    tower = getattr(model, "language_model", model)
    eager = tower.forward
    compiled = torch.compile(eager, **arguments)

    def forward(*args: Any, **kwargs: Any) -> Any:
        if args or kwargs.get("use_cache") or any(kwargs.get(k) is not None for k in
                                                  ("cache", "past_key_values", "deepstack_visual_embeds")):
            return eager(*args, **kwargs)
        for name, dims in _DYNAMIC_DIMS.items():
            tensor = kwargs.get(name)
            if tensor is not None:
                for dim in dims:
                    torch._dynamo.maybe_mark_dynamic(tensor, dim)
        with recompile_limit():
            return compiled(**kwargs)  # type: ignore[no-untyped-call, unused-ignore]

    tower.forward = forward
    return True


_limit_lock = threading.Lock()
_limit_state: dict[str, Any] = {"depth": 0, "saved": None}


@contextlib.contextmanager
def recompile_limit() -> Iterator[None]:
    """``torch._dynamo.config.recompile_limit`` at least ``RECOMPILE_LIMIT`` while compiled calls run, and the
    caller's value back once the last one in any thread returns (a plain ``config.patch`` per call restores
    the wrong value when calls of two threads overlap)."""
    import torch

    config = torch._dynamo.config
    with _limit_lock:
        if _limit_state["depth"] == 0:
            _limit_state["saved"] = config.recompile_limit
            config.recompile_limit = max(RECOMPILE_LIMIT, config.recompile_limit)
        _limit_state["depth"] += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_state["depth"] -= 1
            if _limit_state["depth"] == 0:
                config.recompile_limit = _limit_state["saved"]
