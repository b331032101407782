"""How a local model runs, defined once for all four model classes.

``RuntimeOptions.split(kwargs)`` takes the runtime arguments out of a constructor's keyword arguments
(device, dtype / torch_dtype, attention, device map, batching, packing, host pipeline, progress); what remains
goes to ``from_pretrained`` (``cache_dir``, ``revision``, ``token``, ...). ``None`` means: what this
machine does best (``engine.runtime`` and ``engine.capacity`` decide, after the model is loaded).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

SDPA_KERNELS = ("flash", "efficient", "cudnn", "math")


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how a local model runs.

    - ``device``, ``dtype``, ``attn_implementation``, ``device_map``: placement and kernels.
    - ``max_batch_tokens`` / ``max_batch_size``: padded tokens and rows per forward pass (``engine.capacity``).
    - ``max_batch_patches``: image / video patches per forward pass (pixels and vision activations).
    - ``batch_overhead_tokens``: what one more forward pass costs, in padded tokens; batches are split
      where the padding saved exceeds it (``engine.batches.token_budget_batches``).
    - ``shape_buckets``: pad each batch's length up to one of a few sizes, so the GPU's kernels see few
      distinct shapes (cuDNN plans per shape); default on CUDA only.
    - ``sdpa_kernels``: the scaled-dot-product-attention kernels allowed with ``attn_implementation="sdpa"``,
      from ``flash``, ``efficient``, ``cudnn``, ``math``; default on CUDA ``("flash", "efficient", "math")``
      (a profile of the first release on an H100 showed cuDNN's per-shape planning taking 61% of host time).
    - ``pack_sequences``: padding-free batches. Sequences are concatenated into rows with positions restarting
      at 0 for each one and no attention mask; transformers reads the packing from the positions. Default:
      on with ``attn_implementation="flash_attention_2"`` (one row per batch, run as variable-length flash
      attention: no padding at all), off otherwise. ``True`` with sdpa / eager gives a block-diagonal causal
      mask; as that mask is dense (a row of n tokens costs n^2 attention), sdpa rows hold at most
      ``batches.PACK_ROW_TOKENS`` tokens (or one longer sequence), several short sequences per row, and a
      batch is several such rows. Media are packed too (each sequence keeps its own multimodal RoPE
      positions); the shared-prefix rerank path stays padded. Results equal the padded path's (float noise).
    - ``group_vision_attention``: with sdpa, one attention call per image size per vision layer instead of one
      per image, and one read-back of the image lengths per pass instead of one per layer
      (``engine.vision_attention``); default on CUDA with sdpa (on the CPU the loop costs nothing to
      remove). flash_attention_2 runs one variable-length call already; eager keeps transformers' loop.
    - ``host_workers``: threads that decode and patchify media for the next batches while the model runs.
    - ``prefetch_batches``: batches prepared ahead of the model (bounds host memory).
    - ``show_progress``: a tqdm bar.
    - ``compile``: ``torch.compile`` the language tower (``engine.fusion``), off by default. ``True`` is
      inductor's default mode; a string is an inductor mode (``"max-autotune"``, ``"reduce-overhead"``, ...)
      or a backend name (``"aot_eager"``). Forces ``shape_buckets`` on. Compiling takes seconds to minutes
      per graph (two graphs per model); with ``device_map`` sharding it warns once and runs eagerly.
    """

    device: str | None = None
    dtype: Any = None  # torch.dtype, a name ("bfloat16", "fp16", ...) or "auto"
    attn_implementation: str | None = None
    device_map: str | dict[str, Any] | None = None
    max_batch_tokens: int | None = None
    max_batch_size: int | None = None
    max_batch_patches: int | None = None
    batch_overhead_tokens: int | None = None
    shape_buckets: bool | None = None
    sdpa_kernels: tuple[str, ...] | None = None
    pack_sequences: bool | None = None
    group_vision_attention: bool | None = None
    host_workers: int | None = None
    prefetch_batches: int = 2
    show_progress: bool = False
    compile: bool | str | None = None

    def __post_init__(self) -> None:
        if (self.compile is not None and not isinstance(self.compile, (bool, str))) or self.compile == "":
            raise ValueError(f"compile must be a bool or a torch.compile mode / backend name, got {self.compile!r}")
        if self.compile and self.shape_buckets is False:
            raise ValueError("compile needs shape_buckets (bounded shapes); leave shape_buckets unset or True")
        for name in ("shape_buckets", "pack_sequences", "group_vision_attention"):
            if getattr(self, name) not in (None, True, False):
                raise ValueError(f"{name} must be True, False or None, got {getattr(self, name)!r}")
        for name in ("max_batch_tokens", "max_batch_size", "max_batch_patches", "host_workers", "prefetch_batches",
                     "batch_overhead_tokens"):
            value = getattr(self, name)
            least = 0 if name == "batch_overhead_tokens" else 1
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if self.sdpa_kernels is not None:
            unknown = set(self.sdpa_kernels) - set(SDPA_KERNELS)
            if unknown or not self.sdpa_kernels:
                raise ValueError(f"sdpa_kernels must be a non-empty subset of {SDPA_KERNELS}, got {self.sdpa_kernels}")

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
        values = {k: rest.pop(k) for k in list(rest) if k in names}
        if isinstance(values.get("sdpa_kernels"), list):
            values["sdpa_kernels"] = tuple(values["sdpa_kernels"])
        return cls(**{k: v for k, v in values.items() if v is not None}), rest
