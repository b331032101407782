"""Accelerations a model installs only when ``EngineTuning`` asks for them; the default path never imports
this package.

Each module holds one change and checks the layout it assumes when it is installed; a request that cannot
apply says so once (an error, or for ``compile`` under a device map a warning and eager execution):

- ``vision_attention``: replaces the ``forward`` of transformers' Qwen3-VL ``*VisionAttention`` modules
  (``group_vision_attention``).
- ``fusion``: wraps the language tower's ``forward`` in ``torch.compile`` (``compile``).
- ``packing``: padding-free batches (``pack_sequences``); our own code, no third-party change.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..runtime import Runtime
from ..tuning import EngineTuning


def install(model: Any, tuning: EngineTuning, runtime: Runtime) -> EngineTuning:
    """Install on ``model`` what ``tuning`` asks for; returns the tuning in force (``compile`` False where it
    warned and runs eagerly)."""
    if tuning.compile:
        from .fusion import compile_language_tower

        if not compile_language_tower(model, tuning.compile, runtime.device_map):
            tuning = replace(tuning, compile=False)
    if tuning.group_vision_attention:
        from .vision_attention import install_grouped_attention

        install_grouped_attention(model, runtime.attn_implementation)
    return tuning
