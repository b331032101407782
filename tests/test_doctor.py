"""``python -m qwen3_vl_rag.doctor``: what it reports on this CPU machine, and what it says about a GPU
machine, a broken flash-attn and a mismatched torchvision. No GPU here: for the GPU case only torch.cuda's
answers are patched (as in tests/core/test_runtime.py); a broken flash-attn and a mismatched torchvision
are real distributions made in a temporary directory."""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qwen3_vl_rag import doctor

ROOT = Path(__file__).resolve().parents[1]


def _doctor(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "qwen3_vl_rag.doctor", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def _fake_distribution(folder: Path, name: str, version: str, requires: tuple[str, ...] = (),
                       module_code: str | None = None) -> None:
    """An installed distribution: its metadata, and optionally its importable module."""
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
             *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    if module_code is not None:
        package = folder / name.replace("-", "_")
        package.mkdir()
        (package / "__init__.py").write_text(module_code)


@pytest.fixture(scope="module")
def runs_here() -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``doctor --json`` and plain ``doctor`` on this machine, run once for the tests that read both."""
    return _doctor("--json"), _doctor()


@pytest.mark.xdist_group("doctor")  # pytest -n: one worker runs the doctor for both
def test_cpu_report_names_versions_and_the_cpu_runtime(runs_here):
    result, text = runs_here
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    for name in ("torch", "torchvision", "transformers", "tokenizers", "huggingface-hub"):
        assert report["versions"][name] == metadata.version(name)
    assert report["versions"]["flash-attn"] is None
    assert report["torch_cuda_build"] == torch.version.cuda
    assert report["cuda_available"] is False and report["bf16_supported"] is False
    assert report["torchvision_ops"] == "ok"
    assert report["flash_attn"] == {"installed": False, "imports": False, "error": "not installed"}
    assert report["runtime"] == {"device": "cpu", "dtype": "float32", "attn_implementation": "sdpa",
                                 "device_map": None}
    assert report["problems"] == []
    assert text.returncode == 0
    assert f"transformers: {metadata.version('transformers')}" in text.stdout
    assert "runtime: device=cpu, dtype=float32, attn_implementation=sdpa" in text.stdout
    assert "no CUDA device" in text.stdout


@pytest.mark.xdist_group("doctor")
def test_quantization_modes_say_where_they_run(runs_here):
    """On this CPU: int8 (PyTorch's dynamic int8) and int4 (bitsandbytes NF4) run; the CUDA backends do not,
    and say why. With bitsandbytes hidden, int4 names the missing package and how to install it."""
    result, plain = runs_here
    rows = {(r["mode"], r["device"]): r for r in json.loads(result.stdout)["quantization"]}
    assert set(rows) == {("int8", "cpu"), ("int8", "cuda"), ("int4", "cpu"), ("int4", "cuda")}
    assert rows[("int8", "cpu")]["available"] and rows[("int8", "cpu")]["backend"] == "torch-dynamic-int8"
    assert rows[("int4", "cpu")]["available"] and rows[("int4", "cpu")]["backend"] == "bitsandbytes-nf4"
    for mode in ("int8", "int4"):
        assert rows[(mode, "cuda")]["available"] is False
        assert rows[(mode, "cuda")]["reason"] == "it needs a CUDA device and none is available"
    text = plain.stdout
    assert "quantization='int8' on cpu: torch-dynamic-int8 (runs here)" in text
    assert "quantization='int8' on cuda: bitsandbytes-int8 (not here: it needs a CUDA device" in text
    script = ("import sys; sys.modules['bitsandbytes'] = None; from qwen3_vl_rag import doctor; "
              "print(doctor.render(doctor.collect()))")
    hidden = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert ("quantization='int4' on cpu: bitsandbytes-nf4 (not here: bitsandbytes is not installed "
            "(pip install 'qwen3-vl-rag[quant]'))") in hidden.stdout, hidden.stdout + hidden.stderr


def test_flash_attn_that_does_not_import_is_a_problem(tmp_path):
    """A flash-attn built against another torch is installed but fails to import (undefined symbol)."""
    _fake_distribution(tmp_path, "flash-attn", "2.7.4", module_code=(
        "raise ImportError('flash_attn_2_cuda.so: undefined symbol: _ZN3c104cuda9SetDeviceEi')\n"))
    result = _doctor(pythonpath=tmp_path)
    assert result.returncode == 1
    assert "flash-attn: 2.7.4" in result.stdout
    assert "PROBLEM: flash-attn is installed but does not import (ImportError: " in result.stdout
    assert "undefined symbol" in result.stdout and "--no-build-isolation" in result.stdout


def test_torchvision_built_for_another_torch_is_a_problem(tmp_path):
    _fake_distribution(tmp_path, "torchvision", "0.21.0", requires=("numpy", "torch==2.6.0", "pillow"))
    result = _doctor(pythonpath=tmp_path)
    assert result.returncode == 1
    assert (f"PROBLEM: torchvision 0.21.0 needs torch==2.6.0, but torch {metadata.version('torch')} is installed"
            in result.stdout)


def test_gpu_with_working_flash_attn_reports_it_active(tmp_path, monkeypatch):
    """Simulated H100: CUDA answers patched; flash-attn a real (tiny) importable distribution."""
    _fake_distribution(tmp_path, "flash-attn", "2.7.4", module_code="__version__ = '2.7.4'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, "flash_attn", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H100 80GB HBM3")
    try:
        report = doctor.collect()
    finally:
        sys.modules.pop("flash_attn", None)  # the fake must not outlive this test
    assert report["gpus"] == ["NVIDIA H100 80GB HBM3"] and report["bf16_supported"] is True
    assert report["flash_attn"] == {"installed": True, "imports": True, "error": None}
    assert report["runtime"]["attn_implementation"] == "flash_attention_2"
    assert report["runtime"]["dtype"] == "bfloat16" and report["runtime"]["device"] == "cuda"
    assert report["problems"] == []
    assert "flash-attn is active" in doctor.render(report)


def test_gpu_without_flash_attn_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Tesla T4")
    report = doctor.collect()
    assert (report["runtime"]["dtype"], report["runtime"]["attn_implementation"]) == ("float16", "sdpa")
    assert "flash-attn is not active" in doctor.render(report)


def test_constraints_run_from_a_checkout_without_the_package(tmp_path):
    """``python qwen3_vl_rag/doctor.py --constraints`` before the package is installed: only the standard
    library is imported (qwen3_vl_rag is made unimportable here)."""
    script = ("import runpy, sys; sys.modules['qwen3_vl_rag'] = None; sys.argv = ['doctor.py', '--constraints'];"
              f"runpy.run_path({str(ROOT / 'qwen3_vl_rag' / 'doctor.py')!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"torch=={metadata.version('torch')}",
                                     f"torchvision=={metadata.version('torchvision')}"]


def test_flags_are_exclusive_and_unknown_flags_refused():
    assert _doctor("--json", "--constraints").returncode == 2
    assert _doctor("--bogus").returncode == 2
