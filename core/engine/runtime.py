"""Resolve where and how a model runs (device, dtype, attention kernel, device map) and load it.

On CUDA: bfloat16 and flash_attention_2 when flash-attn imports (else sdpa), and ``device_map="auto"``
over several GPUs. On CPU: float32 and sdpa. An explicit request that cannot be honoured (e.g.
flash_attention_2 without flash-attn or without a GPU) falls back to sdpa with one warning.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .quantization import QuantizationPlan

_DTYPE_NAMES = {"bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16",
                "half": "float16", "float32": "float32", "fp32": "float32", "float": "float32"}


@dataclass(frozen=True)
class Runtime:
    device: str
    dtype: Any  # torch.dtype
    attn_implementation: str
    device_map: str | dict[str, Any] | None


def _flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def _as_dtype(dtype: Any) -> Any:
    import torch

    if dtype is None or dtype == "auto" or isinstance(dtype, torch.dtype):
        return dtype
    name = _DTYPE_NAMES.get(str(dtype).replace("torch.", "").lower())
    if name is None:
        raise ValueError(f"unknown dtype {dtype!r}; use bfloat16, float16 or float32")
    return getattr(torch, name)


def resolve_runtime(
    device: str | None = None,
    dtype: Any = None,
    attn_implementation: str | None = None,
    device_map: str | dict[str, Any] | None = None,
) -> Runtime:
    """Pick the fastest settings this machine supports, honouring what the caller asked for when possible."""
    import torch

    cuda = torch.cuda.is_available()
    device = device or ("cuda" if cuda else "cpu")
    on_cuda = str(device).startswith("cuda")
    dtype = _as_dtype(dtype)
    if dtype is None or dtype == "auto":
        if on_cuda:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
    flash_ok = on_cuda and _flash_attn_available() and dtype in (torch.bfloat16, torch.float16)
    if attn_implementation is None:
        attn_implementation = "flash_attention_2" if flash_ok else "sdpa"
    elif attn_implementation == "flash_attention_2" and not flash_ok:
        reason = ("flash-attn is not installed" if not _flash_attn_available()
                  else "it needs a CUDA device and bfloat16/float16")
        warnings.warn(f"attn_implementation='flash_attention_2' is unavailable ({reason}); using 'sdpa'",
                      RuntimeWarning, stacklevel=3)
        attn_implementation = "sdpa"
    if device_map is None and on_cuda and device == "cuda" and torch.cuda.device_count() > 1:
        device_map = "auto" if importlib.util.find_spec("accelerate") else None
    return Runtime(device=str(device), dtype=dtype, attn_implementation=attn_implementation, device_map=device_map)


# Arguments of ``from_pretrained`` that say WHERE a checkpoint comes from: they must reach the model and
# its tokenizer / processor alike, or a pinned revision or private cache loads mismatched pieces.
HUB_KWARGS = ("cache_dir", "revision", "token", "local_files_only", "force_download", "proxies", "trust_remote_code")


def hub_kwargs(model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``model_kwargs`` that the tokenizer / processor loaders need too."""
    return {k: v for k, v in model_kwargs.items() if k in HUB_KWARGS}


def load_model(model_class: Any, model_name_or_path: str, runtime: Runtime, model_types: tuple[str, ...],
               quantization: QuantizationPlan | None = None, **kwargs: Any) -> Any:
    """``from_pretrained`` with the runtime's settings; eval mode; on the runtime's device; quantized by
    ``quantization`` (``engine.quantization.plan``, checked before this call).

    The checkpoint's ``model_type`` is checked against ``model_types`` first: a checkpoint of another kind
    would otherwise load as a randomly initialised model of the expected kind, with no error.
    """
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_name_or_path, **hub_kwargs(kwargs))
    if config.model_type not in model_types:
        raise ValueError(
            f"{model_name_or_path} is a {config.model_type!r} checkpoint; {model_class.__name__} needs "
            f"{' or '.join(repr(t) for t in model_types)} (is this the right model for this class?)"
        )
    load_kwargs = dict(quantization.load_kwargs) if quantization is not None else {}
    device_map = runtime.device_map
    if load_kwargs and device_map is None:
        device_map = {"": runtime.device}  # a model quantized while loading is placed while loading, not moved
    model = model_class.from_pretrained(
        model_name_or_path,
        config=config,
        dtype=runtime.dtype,
        attn_implementation=runtime.attn_implementation,
        device_map=device_map,
        **load_kwargs,
        **kwargs,
    )
    if device_map is None:
        model = model.to(runtime.device)
    if quantization is not None and quantization.after_load is not None:
        model = quantization.after_load(model)
    return model.eval()


def input_device(model: Any) -> Any:
    """The device that takes the inputs (the first shard's under a device map)."""
    return model.get_input_embeddings().weight.device
