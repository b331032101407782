"""What a user sets on a local model, defined once for all four model classes.

``RuntimeOptions.split(kwargs)`` takes the runtime arguments out of a constructor's keyword arguments
(device, dtype / torch_dtype, attention, device map, quantization, batch limits, progress, and ``tuning``, the one
door to ``EngineTuning``); what remains goes to ``from_pretrained`` (``cache_dir``, ``revision``, ``token``, ...).
``None`` means: what this machine does best (``engine.runtime`` and ``engine.capacity`` decide, after the
model is loaded).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .quantization import check_quantization
from .tuning import NAMES as TUNING_NAMES
from .tuning import EngineTuning


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how a local model runs.

    - ``device``, ``dtype``, ``attn_implementation``, ``device_map``: placement and kernels.
    - ``quantization``: ``None``, ``"int8"``, ``"int4"`` or a transformers quantization config
      (``engine.quantization``: which backend, and where it can run).
    - ``max_batch_tokens`` / ``max_batch_size``: padded tokens and rows per forward pass (``engine.capacity``).
    - ``show_progress``: a tqdm bar.
    - ``tuning``: everything that tunes the engine (``EngineTuning``); none of it is needed for correct vectors.
    """

    device: str | None = None
    dtype: Any = None  # torch.dtype, a name ("bfloat16", "fp16", ...) or "auto"
    attn_implementation: str | None = None
    device_map: str | dict[str, Any] | None = None
    quantization: Any = None  # None, "int8", "int4" or a transformers quantization config
    max_batch_tokens: int | None = None
    max_batch_size: int | None = None
    show_progress: bool = False
    tuning: EngineTuning = field(default_factory=EngineTuning)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tuning", EngineTuning.of(self.tuning))
        check_quantization(self.quantization)
        for name in ("max_batch_tokens", "max_batch_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")

    @classmethod
    def split(cls, kwargs: dict[str, Any]) -> tuple[RuntimeOptions, dict[str, Any]]:
        """(runtime options, the remaining keyword arguments). ``torch_dtype`` is the official alias of ``dtype``.

        A tuning knob passed on its own is refused with where it lives now (``tuning=EngineTuning(...)``).
        """
        rest = dict(kwargs)
        knobs = sorted(TUNING_NAMES & set(rest))
        if knobs:
            shown = ", ".join(f"{k}={rest[k]!r}" for k in knobs)
            verb = "tunes" if len(knobs) == 1 else "tune"
            raise TypeError(f"{', '.join(knobs)} {verb} the engine, not the model: pass tuning=EngineTuning({shown}) "
                            "(from qwen3_vl_rag.core import EngineTuning)")
        torch_dtype = rest.pop("torch_dtype", None)
        if torch_dtype is not None and rest.get("dtype") is not None and rest["dtype"] != torch_dtype:
            raise ValueError(f"dtype={rest['dtype']!r} and torch_dtype={torch_dtype!r} disagree; pass one of them")
        if rest.get("dtype") is None and torch_dtype is not None:
            rest["dtype"] = torch_dtype
        names = {f.name for f in fields(cls)}
        values = {k: rest.pop(k) for k in list(rest) if k in names}
        return cls(**{k: v for k, v in values.items() if v is not None}), rest
