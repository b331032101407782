"""What this machine gives a model: versions, CUDA, bfloat16, flash-attn, the runtime a model would get, and
which quantization modes (``quantization="int8" | "int4"``) run here and why not.

    python -m qwen3_vl_rag.doctor                 # report; exit status 1 when something is broken
    python -m qwen3_vl_rag.doctor --json          # the same as JSON
    python qwen3_vl_rag/doctor.py --constraints   # pip constraints that keep the installed torch/torchvision

``--constraints`` works from a checkout before the package is installed (this module imports only the
standard library at the top), so ``pip install -e . -c <(python qwen3_vl_rag/doctor.py --constraints)``
keeps a GPU user's own torch build instead of letting pip replace it (docs/install.md "GPU").
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as metadata
import json
import platform
import sys
from typing import Any

#: Distributions whose versions the report shows, in this order.
PACKAGES = ("torch", "torchvision", "transformers", "tokenizers", "huggingface-hub", "accelerate",
            "flash-attn", "bitsandbytes", "torchao", "qwen-vl-utils", "decord", "av", "qwen3-vl-rag")


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def torch_constraints() -> list[str]:
    """``name==version`` pins for the installed torch and torchvision (empty when neither is installed).

    The exact installed version, local label included (``2.6.0+cu124``): pip then keeps the installed
    build and picks a torchvision whose ``torch==2.6.0`` requirement it satisfies, or says it cannot.
    """
    pins = []
    for name in ("torch", "torchvision"):
        version = installed_version(name)
        if version is not None:
            pins.append(f"{name}=={version}")
    return pins


def _torchvision_pairing(torch_version: str | None) -> str | None:
    """A problem sentence when the installed torchvision was built for another torch, else None."""
    if torch_version is None or installed_version("torchvision") is None:
        return None
    try:
        from packaging.requirements import Requirement  # a dependency of transformers
    except ImportError:  # run from a checkout before anything else is installed
        return None

    for raw in metadata.requires("torchvision") or []:
        requirement = Requirement(raw)
        if requirement.name == "torch" and requirement.marker is None and requirement.specifier:
            if not requirement.specifier.contains(torch_version, prereleases=True):
                return (f"torchvision {installed_version('torchvision')} needs torch{requirement.specifier}, "
                        f"but torch {torch_version} is installed: install the matching pair")
    return None


def _flash_attn() -> dict[str, Any]:
    """Whether flash-attn imports (a build against another torch fails here, not at find_spec)."""
    if installed_version("flash-attn") is None:
        return {"installed": False, "imports": False, "error": "not installed"}
    try:
        importlib.import_module("flash_attn")
    except Exception as exc:  # noqa: BLE001 - any failure means transformers cannot use it either
        return {"installed": True, "imports": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"installed": True, "imports": True, "error": None}


def _torch_facts() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    return {
        "torch_cuda_build": torch.version.cuda,  # None for a CPU-only build
        "cuda_available": cuda,
        "gpus": devices,
        "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
    }


def _torchvision_ops() -> str | None:
    """None when torchvision's compiled ops load; else the error (a torchvision built for another torch)."""
    try:
        import torch
        import torchvision  # noqa: F401

        torch.ops.torchvision.nms  # noqa: B018 - the registered C++ op, missing in a mismatched pair
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


#: Where ``resolve_runtime`` lives: the engine redesign moves it; the old path is kept as a fallback.
RUNTIME_MODULES = ("qwen3_vl_rag.core.engine.runtime", "qwen3_vl_rag.core.runtime")


def _resolve_runtime_function() -> Any:
    """The package's public ``resolve_runtime`` (imported lazily: ``--constraints`` needs none of it)."""
    for name in RUNTIME_MODULES:
        try:
            return importlib.import_module(name).resolve_runtime
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise  # a missing dependency (torch, ...), not a missing module of this package
    raise ModuleNotFoundError(f"none of {RUNTIME_MODULES} is importable")


def _runtime() -> dict[str, Any]:
    """The device, dtype, attention and device map a model constructed with defaults would get."""
    import warnings

    resolve_runtime = _resolve_runtime_function()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runtime = resolve_runtime()
    return {"device": runtime.device, "dtype": str(runtime.dtype).replace("torch.", ""),
            "attn_implementation": runtime.attn_implementation, "device_map": runtime.device_map}


def _quantization() -> list[dict[str, Any]]:
    """Each quantization backend: its mode, device, whether it runs here and why not (engine.quantization)."""
    rows: list[dict[str, Any]] = importlib.import_module("qwen3_vl_rag.core.engine.quantization").report()
    return rows


def collect() -> dict[str, Any]:
    """Everything the report shows, plus ``problems``: sentences naming what is broken and what to do."""
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: installed_version(name) for name in PACKAGES},
        "problems": [],
    }
    problems: list[str] = report["problems"]
    torch_version = report["versions"]["torch"]
    if torch_version is None:
        problems.append("torch is not installed: install torch (and the matching torchvision) first")
        return report
    report.update(_torch_facts())
    pairing = _torchvision_pairing(torch_version)
    if pairing:
        problems.append(pairing)
    ops_error = _torchvision_ops() if report["versions"]["torchvision"] else "torchvision is not installed"
    report["torchvision_ops"] = ops_error or "ok"
    if ops_error and not pairing:
        problems.append(f"torchvision does not load its ops ({ops_error}); Qwen3-VL's processors need it")
    report["flash_attn"] = _flash_attn()
    if report["flash_attn"]["installed"] and not report["flash_attn"]["imports"]:
        problems.append(f"flash-attn is installed but does not import ({report['flash_attn']['error']}); "
                        "rebuild it against this torch: pip install flash-attn --no-build-isolation")
    try:
        report["runtime"] = _runtime()
    except Exception as exc:  # noqa: BLE001 - e.g. the package itself is not installed yet
        report["runtime"] = None
        problems.append(f"cannot resolve the runtime: {type(exc).__name__}: {exc}")
    try:
        report["quantization"] = _quantization()
    except Exception as exc:  # noqa: BLE001 - an optional feature: reported, not a problem
        report["quantization"] = None
        report["quantization_error"] = f"{type(exc).__name__}: {exc}"
    return report


def _note(report: dict[str, Any]) -> str:
    """One line saying what a GPU user would want to change."""
    runtime = report.get("runtime") or {}
    if not report.get("cuda_available"):
        return "no CUDA device: models run on the CPU in float32 with sdpa attention"
    if runtime.get("attn_implementation") == "flash_attention_2":
        return "flash-attn is active: models load with flash_attention_2"
    return "flash-attn is not active: models use sdpa (docs/install.md \"GPU\" shows how to install flash-attn)"


def render(report: dict[str, Any]) -> str:
    """The report as aligned ``key: value`` lines."""
    lines = [f"python: {report['python']} ({report['platform']})"]
    lines += [f"{name}: {version or 'not installed'}" for name, version in report["versions"].items()]
    for key in ("torch_cuda_build", "cuda_available", "gpus", "bf16_supported", "torchvision_ops"):
        if key in report:
            lines.append(f"{key}: {report[key]}")
    if "flash_attn" in report:
        flash = report["flash_attn"]
        lines.append(f"flash_attn: {'imports' if flash['imports'] else flash['error']}")
    if report.get("runtime"):
        lines.append("runtime: " + ", ".join(f"{k}={v}" for k, v in report["runtime"].items()))
        lines.append(_note(report))
    for row in report.get("quantization") or []:
        state = "runs here" if row["available"] else f"not here: {row['reason']}"
        lines.append(f"quantization={row['mode']!r} on {row['device']}: {row['backend']} ({state})")
    lines += [f"PROBLEM: {problem}" for problem in report["problems"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qwen3_vl_rag.doctor", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="print the report as JSON")
    group.add_argument("--constraints", action="store_true",
                       help="print pip constraints pinning the installed torch and torchvision")
    args = parser.parse_args(argv)
    if args.constraints:
        pins = torch_constraints()
        if not pins:
            print("torch is not installed: nothing to keep", file=sys.stderr)
            return 1
        print("\n".join(pins))
        return 0
    report = collect()
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
