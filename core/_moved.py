"""Old module paths of ``qwen3_vl_rag.core`` (before the engine / formats / models layout), kept for one
release: importing a name from one works and warns with the name's new home."""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import Any

# old module -> (new module for every name, {old name: "new.module:new_name"} for names that moved elsewhere)
MOVED: dict[str, tuple[str, dict[str, str]]] = {
    "embedder": ("models.vl_embedder", {}),
    "reranker": ("models.vl_reranker", {"render_rerank_prompt": "formats.rerank:vl_rerank_prompt"}),
    "text_embedder": ("models.text_embedder", {"query_prompt": "formats.embedding:text_query_prompt"}),
    "text_reranker": ("models.text_reranker", {"PRESETS": "formats.rerank:TEXT_RERANK_PRESETS",
                                               "RerankPreset": "formats.rerank:TextRerankPreset"}),
    "constants": ("formats.defaults", {}),
    "prompts": ("formats.chat", {"user_content": "formats.vision:media_content",
                                 "expand_vision": "formats.vision:expand_vision",
                                 "video_timestamps": "formats.vision:video_timestamps",
                                 "IMAGE_PLACEHOLDER": "formats.vision:IMAGE_PLACEHOLDER",
                                 "VIDEO_PLACEHOLDER": "formats.vision:VIDEO_PLACEHOLDER"}),
    "truncation": ("formats.truncation", {"PromptTooLongError": "errors:PromptTooLong"}),
    "pooling": ("vectors", {"last_token": "engine.heads:last_token"}),
    "scoring": ("api", {"yes_no_head": "engine.heads:yes_no_head", "single_token_id": "engine.heads:single_token_id"}),
    "runtime": ("engine.runtime", {}),
    "batching": ("engine.batches", {}),
    "encoding": ("engine.batches", {}),
}


class _MovedModule(types.ModuleType):
    def __init__(self, package: str, old: str):
        super().__init__(f"{package}.{old}")
        self._package, self._old = package, old

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        module, renames = MOVED[self._old]
        target = renames.get(name, f"{module}:{name}")
        new_module, new_name = target.split(":")
        # a name that never lived here raises without a warning (torch.compile probes every module's attributes)
        value = getattr(importlib.import_module(f"{self._package}.{new_module}"), new_name)
        warnings.warn(f"{self.__name__}.{name} moved to {self._package}.{new_module}.{new_name}; the old path "
                      "goes away in the next release", DeprecationWarning, stacklevel=2)
        return value


def install(package: str) -> None:
    """Register the old module paths under ``package`` (``qwen3_vl_rag.core``)."""
    for old in MOVED:
        sys.modules.setdefault(f"{package}.{old}", _MovedModule(package, old))
