"""How a local model runs, defined once for all four model classes.

``RuntimeOptions.split(kwargs)`` takes the runtime arguments out of a constructor's keyword arguments
(device, dtype / torch_dtype, attn_implementation, device_map, batching, progress); what remains goes
to ``from_pretrained`` (``cache_dir``, ``revision``, ``token``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

DEFAULT_MAX_BATCH_TOKENS = 16384
DEFAULT_MAX_BATCH_SIZE = 64


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how a local model runs. ``None`` means: the best this machine supports (``engine.runtime``)."""

    device: str | None = None
    dtype: Any = None  # torch.dtype, a name ("bfloat16", "fp16", ...) or "auto"
    attn_implementation: str | None = None
    device_map: str | dict | None = None
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    show_progress: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_tokens < 1 or self.max_batch_size < 1:
            raise ValueError("max_batch_tokens and max_batch_size must be >= 1")

    @classmethod
    def split(cls, kwargs: dict[str, Any]) -> tuple[RuntimeOptions, dict[str, Any]]:
        """(runtime options, the remaining keyword arguments). ``torch_dtype`` is the official alias of ``dtype``."""
        rest = dict(kwargs)
        torch_dtype = rest.pop("torch_dtype", None)
        if torch_dtype is not None and rest.get("dtype") is not None and rest["dtype"] != torch_dtype:
            raise ValueError(f"dtype={rest['dtype']!r} and torch_dtype={torch_dtype!r} disagree; pass one of them")
        if rest.get("dtype") is None and torch_dtype is not None:
            rest["dtype"] = torch_dtype
        names = {f.name for f in fields(cls)}
        options = cls(**{k: rest.pop(k) for k in list(rest) if k in names and rest[k] is not None})
        return options, rest
