"""``EngineTuning``: every knob that tunes how a local model runs, behind one door (``tuning=`` on a model).

Nothing here is needed for correct vectors: the defaults give the same results, and each switch that changes
what runs on a GPU is off unless a GPU figure in ``benchmarks/results/`` put it on (none has yet). The
accelerations that replace third-party code (grouped vision attention, ``torch.compile``) and padding-free
packing live in ``engine.accelerations``, imported only when a model asks for one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

SDPA_KERNELS = ("flash", "efficient", "cudnn", "math")


@dataclass(frozen=True)
class EngineTuning:
    """How the engine batches and runs; pass as ``tuning=EngineTuning(...)`` (or a dict of these fields).

    - ``max_batch_patches``: image / video patches per forward pass (pixels and vision activations); default
      from the device (``engine.capacity``).
    - ``batch_overhead_tokens``: what one more forward pass costs, in padded tokens; batches are split where
      the padding saved exceeds it (``engine.batches.token_budget_batches``); default from the device.
    - ``shape_buckets``: pad each batch's length up to one of a few sizes, so kernels that plan per shape see
      few distinct shapes. Off unless ``compile`` is on (which needs it).
    - ``sdpa_kernels``: the scaled-dot-product-attention kernels allowed with ``attn_implementation="sdpa"``,
      from ``flash``, ``efficient``, ``cudnn``, ``math``. Default: no restriction (torch's choice).
    - ``pack_sequences``: padding-free batches: sequences back to back in rows, positions restarting at 0,
      no attention mask (``engine.accelerations.packing``). One row per batch with flash_attention_2; rows of
      ``PACK_ROW_TOKENS`` under a block mask with sdpa / eager. Results equal the padded path's (float noise).
    - ``group_vision_attention``: with sdpa, one attention call per image size per vision layer instead of
      one per image (``engine.accelerations.vision_attention``; replaces the vision attention ``forward``).
    - ``host_workers``: threads that decode and patchify media for the next batches while the model runs.
    - ``prefetch_batches``: batches prepared ahead of the model (bounds host memory).
    - ``compile``: ``torch.compile`` the language tower (``engine.accelerations.fusion``). ``True`` is
      inductor's default mode; a string is an inductor mode (``"max-autotune"``, ...) or a backend name
      (``"aot_eager"``). Forces ``shape_buckets`` on. With ``device_map`` sharding it warns once and runs eagerly.
    """

    max_batch_patches: int | None = None
    batch_overhead_tokens: int | None = None
    shape_buckets: bool | None = None
    sdpa_kernels: tuple[str, ...] | None = None
    pack_sequences: bool = False
    group_vision_attention: bool = False
    host_workers: int | None = None
    prefetch_batches: int = 2
    compile: bool | str = False

    def __post_init__(self) -> None:
        if isinstance(self.sdpa_kernels, list):
            object.__setattr__(self, "sdpa_kernels", tuple(self.sdpa_kernels))
        if not isinstance(self.compile, (bool, str)) or self.compile == "":
            raise ValueError(f"compile must be a bool or a torch.compile mode / backend name, got {self.compile!r}")
        if self.compile and self.shape_buckets is False:
            raise ValueError("compile needs shape_buckets (bounded shapes); leave shape_buckets unset or True")
        if self.shape_buckets not in (None, True, False):
            raise ValueError(f"shape_buckets must be True, False or None, got {self.shape_buckets!r}")
        for name in ("pack_sequences", "group_vision_attention"):
            if getattr(self, name) not in (True, False):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("max_batch_patches", "host_workers", "prefetch_batches", "batch_overhead_tokens"):
            value = getattr(self, name)
            least = 0 if name == "batch_overhead_tokens" else 1
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if self.sdpa_kernels is not None:
            unknown = set(self.sdpa_kernels) - set(SDPA_KERNELS)
            if unknown or not self.sdpa_kernels:
                raise ValueError(f"sdpa_kernels must be a non-empty subset of {SDPA_KERNELS}, got {self.sdpa_kernels}")

    @property
    def accelerated(self) -> bool:
        """Whether any of ``engine.accelerations`` is asked for."""
        return bool(self.pack_sequences or self.group_vision_attention or self.compile)

    @classmethod
    def of(cls, value: Any) -> EngineTuning:
        """``value`` as an ``EngineTuning``: one already, a mapping of its fields, or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - NAMES)
            if unknown:
                raise TypeError(f"unknown engine tuning option(s) {unknown}; EngineTuning has {sorted(NAMES)}")
            return cls(**value)
        raise TypeError(f"tuning must be an EngineTuning (or a dict of its fields), got {type(value).__name__}")


NAMES = frozenset(f.name for f in fields(EngineTuning))
