"""Quantized weights (``quantization="int8" | "int4"`` or a transformers quantization config): the one home.

Which backend runs each mode on which device, whether it can run here, the refusal when it cannot, and which
modules stay unquantized. Measured on a 2-core AVX2 CPU (docs/quantization.md; benchmarks/bench_quantization.py):

- ``"int8"`` on a CPU: PyTorch's dynamic int8 linear (int8 weights, activations quantized per batch, the x86 /
  fbgemm kernels): 2.2-2.5x the float32 matmul throughput at cosine >= 0.999 on the bench model's layers.
  torchao's weight-only int8 ran at 0.8x and its dynamic int8 at 0.05x (no eager int8 kernel on a CPU),
  bitsandbytes' 8-bit at 1.0x: slower or no faster, so not chosen.
- ``"int8"`` on CUDA: bitsandbytes LLM.int8 (``load_in_8bit``), quantized while loading, so an 8B model never
  holds its bf16 weights on the GPU. ``"int4"`` everywhere: bitsandbytes NF4 (4-bit packed weights, bf16 or
  float32 compute); on a CPU it is a memory mode (0.9x float32 speed), not a speed mode. torchao's int4
  weight-only needs CUDA kernels (tinygemm / mslk) and its CPU int4 (``IntxWeightOnlyConfig``) stores one
  byte per weight, so it saves no memory over int8. GPU figures: benchmarks/gpu_suite.py ``quantization``.
- Kept unquantized: the language-model head (the reranker reads two of its rows, ``yes`` and ``no``, once,
  in float32: an int8 head saves nothing and moves scores). The vision tower is quantized by CPU int8 (measured:
  images 1.25x faster than with it in float, min cosine 0.9929 against 0.9937) and kept in float by the
  bitsandbytes modes until GPU figures (gpu_suite ``quantization``) say otherwise.

A mode that cannot run here is refused before the model loads, with the reason and what would work.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODES = ("int8", "int4")
#: Modules CPU int8 leaves in float (matched as a dotted-name component): the vocabulary head.
KEEP = ("lm_head",)
#: Modules the bitsandbytes modes leave in float: the vocabulary head and the vision tower.
KEEP_BITSANDBYTES = ("visual", "lm_head")


class QuantizationUnavailable(RuntimeError):
    """A quantization that cannot run on this machine (the message says why and what would)."""


@dataclass(frozen=True)
class Backend:
    """One way to quantize: its name, the mode it serves, the device kind it runs on."""

    name: str
    mode: str
    device: str  # "cpu" or "cuda"
    library: str  # the distribution it needs
    description: str


BACKENDS = (
    Backend("torch-dynamic-int8", "int8", "cpu", "torch",
            "PyTorch dynamic int8 linear (x86/fbgemm kernels): per-row int8 weights, per-batch int8 activations"),
    Backend("bitsandbytes-int8", "int8", "cuda", "bitsandbytes", "bitsandbytes LLM.int8 (load_in_8bit)"),
    Backend("bitsandbytes-nf4", "int4", "cpu", "bitsandbytes", "bitsandbytes NF4 4-bit weights (load_in_4bit)"),
    Backend("bitsandbytes-nf4", "int4", "cuda", "bitsandbytes", "bitsandbytes NF4 4-bit weights (load_in_4bit)"),
)


def check_quantization(value: Any) -> Any:
    """``value`` if it is a quantization this package knows (None, a mode, a transformers config); else an error
    naming it."""
    if value is None or (isinstance(value, str) and value in MODES):
        return value
    if _is_transformers_config(value):
        return value
    raise ValueError(f"quantization={value!r} is not supported; use None, one of {list(MODES)}, or a transformers "
                     "quantization config object (e.g. transformers.BitsAndBytesConfig(...), TorchAoConfig(...))")


def _is_transformers_config(value: Any) -> bool:
    if isinstance(value, (str, bytes, dict)) or value is None:
        return False
    try:
        from transformers.utils.quantization_config import QuantizationConfigMixin
    except ImportError:  # pragma: no cover - transformers is a dependency
        return False
    return isinstance(value, QuantizationConfigMixin)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _bitsandbytes_reason(device: str) -> str | None:
    """None when bitsandbytes imports and supports ``device``'s kind; else why not."""
    if not _installed("bitsandbytes"):
        return "bitsandbytes is not installed (pip install 'qwen3-vl-rag[quant]')"
    if not _installed("accelerate"):
        return "transformers loads bitsandbytes models through accelerate, which is not installed"
    try:  # imported by name: an optional extra ([quant]) that no other path of the package needs
        bnb = importlib.import_module("bitsandbytes")
    except Exception as exc:  # noqa: BLE001 - a broken build fails here
        return f"bitsandbytes does not import ({type(exc).__name__}: {exc})"
    kind = device.split(":")[0]
    supported = set(getattr(bnb, "supported_torch_devices", ()) or ())
    if supported and kind not in supported:
        return f"this bitsandbytes build supports {sorted(supported)}, not {kind!r}"
    return None


def _torch_int8_reason(dtype: Any) -> str | None:
    """None when PyTorch's dynamic int8 linear runs here on ``dtype``; else why not."""
    import torch

    engines = set(torch.backends.quantized.supported_engines)
    if not engines & {"x86", "fbgemm", "qnnpack"}:
        return f"this PyTorch build has no quantized CPU engine (supported: {sorted(engines)})"
    try:
        from torch.ao.quantization import quantize_dynamic  # noqa: F401
    except ImportError:
        return "this PyTorch no longer has torch.ao.quantization.quantize_dynamic"
    if dtype is not None and dtype != torch.float32:
        return f"its kernels take float32 activations, not {dtype} (leave dtype unset or pass float32 on a CPU)"
    return None


def backend_for(mode: str, device: str) -> Backend:
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    for backend in BACKENDS:
        if backend.mode == mode and backend.device == kind:
            return backend
    raise QuantizationUnavailable(f"quantization={mode!r} has no backend on {device!r}; it runs on "
                                  f"{sorted({b.device for b in BACKENDS if b.mode == mode})}")


def unavailable_reason(backend: Backend, dtype: Any = None) -> str | None:
    """None when ``backend`` runs on this machine (for ``dtype``); else why not."""
    if backend.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return "it needs a CUDA device and none is available"
    if backend.library == "bitsandbytes":
        return _bitsandbytes_reason(backend.device)
    return _torch_int8_reason(dtype)


@dataclass(frozen=True)
class QuantizationPlan:
    """How one model is quantized: ``from_pretrained`` arguments and/or a step after loading."""

    mode: str  # "int8", "int4", or "config" (a caller's transformers config)
    backend: str
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    after_load: Callable[[Any], Any] | None = None

    def describe(self) -> str:
        return f"{self.mode} ({self.backend})"


def plan(quantization: Any, device: str, dtype: Any, device_map: Any = None) -> QuantizationPlan | None:
    """The plan for ``quantization`` on ``device`` / ``dtype``, or ``QuantizationUnavailable`` saying why it
    cannot run here and what would (raised before any weights load)."""
    quantization = check_quantization(quantization)
    if quantization is None:
        return None
    if not isinstance(quantization, str):
        return QuantizationPlan("config", type(quantization).__name__, {"quantization_config": quantization})
    backend = backend_for(quantization, device)
    reason = unavailable_reason(backend, dtype)
    if reason is not None:
        other = [b for b in BACKENDS if b.mode == quantization and b is not backend
                 and unavailable_reason(b) is None]
        hint = f"; on this machine it runs on {other[0].device} ({other[0].name})" if other else ""
        raise QuantizationUnavailable(f"quantization={quantization!r} on {device} uses {backend.name}, which cannot "
                                      f"run here: {reason}{hint}")
    if backend.name == "torch-dynamic-int8":
        if device_map is not None:
            raise QuantizationUnavailable("quantization='int8' on a CPU quantizes the loaded model in place and "
                                          f"does not combine with device_map={device_map!r}")
        return QuantizationPlan(quantization, backend.name, after_load=quantize_linear_int8)
    return QuantizationPlan(quantization, backend.name, {"quantization_config": _bitsandbytes_config(quantization,
                                                                                                     dtype)})


def _bitsandbytes_config(mode: str, dtype: Any) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    # transformers matches these from the start of a module's name (or as its suffix): name the nested paths too
    skip = [*KEEP_BITSANDBYTES, *(f"model.{name}" for name in KEEP_BITSANDBYTES)]
    if mode == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    compute = dtype if isinstance(dtype, torch.dtype) else torch.float32
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute,
                              bnb_4bit_use_double_quant=False, llm_int8_skip_modules=skip)


def kept(name: str, keep: tuple[str, ...] = KEEP) -> bool:
    """Whether the module named ``name`` (dotted) stays unquantized."""
    return any(part in keep for part in name.split("."))


def quantize_linear_int8(model: Any, keep: tuple[str, ...] = KEEP) -> Any:
    """Replace every ``nn.Linear`` of ``model`` outside ``keep`` by PyTorch's dynamic int8 linear, in place.

    ``torch.ao.quantization`` warns that it moves to torchao; torchao's eager int8 has no fast CPU kernel
    (measured 0.05x), so this one is used and its deprecation warning is not repeated to every user.
    """
    import torch

    targets = {name for name, module in model.named_modules()
               if isinstance(module, torch.nn.Linear) and not kept(name, keep)}
    if not targets:
        return model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        convert: Any = quantize_dynamic  # untyped in some torch versions, typed in others
        # one scale per output row: rows of a trained layer differ in range by orders of magnitude
        return convert(model, dict.fromkeys(targets, per_channel_dynamic_qconfig), dtype=torch.qint8, inplace=True)


def quantized_linears(model: Any) -> int:
    """How many linear layers of ``model`` hold quantized weights (for tests and the benchmark)."""
    count = 0
    for module in model.modules():
        kind = type(module)
        if kind.__module__.startswith(("torch.ao.nn.quantized", "bitsandbytes")) and "Linear" in kind.__name__:
            count += 1
    return count


def report() -> list[dict[str, Any]]:
    """Every backend with whether it runs on this machine and why not (for ``python -m qwen3_vl_rag.doctor``)."""
    rows = []
    for backend in BACKENDS:
        reason = unavailable_reason(backend)
        rows.append({"mode": backend.mode, "device": backend.device, "backend": backend.name,
                     "available": reason is None, "reason": reason, "what": backend.description})
    return rows
