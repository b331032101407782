"""Device, dtype and attention selection. GPU presence is simulated (no GPU on CI): only torch.cuda's
answers and flash-attn's importability are patched; the selection logic itself runs for real."""

import warnings

import pytest
import torch

from qwen3_vl_rag.core.engine import runtime
from qwen3_vl_rag.core.engine.runtime import resolve_runtime


@pytest.fixture
def fake_gpus(monkeypatch):
    def install(count=1, bf16=True, flash=True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(runtime, "_flash_attn_available", lambda: flash)
    return install


def test_cpu_defaults_to_float32_and_sdpa():
    choice = resolve_runtime(device="cpu")
    assert (choice.device, choice.dtype, choice.attn_implementation, choice.device_map) == (
        "cpu", torch.float32, "sdpa", None)


def test_gpu_with_flash_attn_gets_bf16_and_flash_attention(fake_gpus):
    fake_gpus(count=1)
    choice = resolve_runtime()
    assert (choice.device, choice.dtype, choice.attn_implementation, choice.device_map) == (
        "cuda", torch.bfloat16, "flash_attention_2", None)


def test_gpu_without_flash_attn_gets_sdpa_and_old_gpu_gets_fp16(fake_gpus):
    fake_gpus(count=1, bf16=False, flash=False)
    choice = resolve_runtime()
    assert (choice.dtype, choice.attn_implementation) == (torch.float16, "sdpa")


def test_several_gpus_use_device_map_auto(fake_gpus):
    fake_gpus(count=4)
    assert resolve_runtime().device_map == "auto"
    assert resolve_runtime(device="cuda:1").device_map is None  # a pinned device stays pinned


def test_unavailable_flash_attention_falls_back_with_one_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        choice = resolve_runtime(device="cpu", dtype=torch.bfloat16, attn_implementation="flash_attention_2")
    assert choice.attn_implementation == "sdpa" and choice.dtype == torch.bfloat16
    assert len(caught) == 1 and "flash_attention_2" in str(caught[0].message)


def test_dtype_names_are_accepted_and_unknown_ones_rejected():
    assert resolve_runtime(device="cpu", dtype="bf16").dtype == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_runtime(device="cpu", dtype="int3")


def test_specification_constructor_runs_on_cpu_and_ends_on_sdpa(tiny_vl_path):
    from qwen3_vl_rag.core import Qwen3VLEmbedder

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        embedder = Qwen3VLEmbedder(model_name_or_path=str(tiny_vl_path), max_length=8192, min_pixels=4096,
                                   max_pixels=1843200, total_pixels=7864320, fps=1.0, num_frames=64,
                                   max_frames=64, torch_dtype=torch.bfloat16,
                                   attn_implementation="flash_attention_2")
    ours = [w for w in caught if "flash_attention_2" in str(w.message)]
    assert len(ours) == 1
    assert embedder.model.config._attn_implementation == "sdpa"
    assert embedder.model.dtype == torch.bfloat16
    assert embedder.embed(["works"]).shape == (1, embedder.dimension)
