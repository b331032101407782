"""``EngineTuning``: the one door to the engine's knobs, opt-in accelerations, and what the defaults select.

The selection logic runs on the CPU; a model on CUDA is simulated (no GPU here): ``resolve_options`` reads
only the device of its input embeddings, and the batch limits are given so that no free-memory query
reaches the absent GPU.
"""

import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from qwen3_vl_rag.core import EngineTuning, Qwen3TextEmbedder, Qwen3VLEmbedder, RuntimeOptions
from qwen3_vl_rag.core.engine.accelerations.vision_attention import install_grouped_attention
from qwen3_vl_rag.core.engine.runner import resolve_options

OFF = {"pack_sequences": False, "group_vision_attention": False, "compile": False, "shape_buckets": False,
       "sdpa_kernels": None}


def _selected(tuning: EngineTuning) -> dict:
    return {name: getattr(tuning, name) for name in OFF}


def _on_cuda(model):
    embeddings = SimpleNamespace(weight=SimpleNamespace(device=torch.device("cuda", 0)))
    return SimpleNamespace(get_input_embeddings=lambda: embeddings, config=model.config)


def test_no_acceleration_is_on_by_default_on_cpu_or_cuda(vl_embedder, text_embedder):
    """No GPU figure in benchmarks/results separates any of them, so none is a default anywhere."""
    assert _selected(vl_embedder.options.tuning) == OFF
    assert _selected(text_embedder.options.tuning) == OFF
    limits = RuntimeOptions(max_batch_tokens=4096, max_batch_size=32)
    runtime = vl_embedder.runner.runtime
    for attn in ("sdpa", "flash_attention_2", "eager"):
        resolved = resolve_options(limits, replace(runtime, device="cuda", attn_implementation=attn),
                                   _on_cuda(vl_embedder.model))
        assert _selected(resolved.tuning) == OFF, attn
        assert resolved.tuning.max_batch_patches == 65536 and resolved.tuning.batch_overhead_tokens == 2048
    cpu = resolve_options(limits, runtime, vl_embedder.model).tuning
    assert (cpu.max_batch_patches, cpu.batch_overhead_tokens) == (16384, 256)


def test_what_is_asked_for_is_kept_and_compile_brings_shape_buckets(vl_embedder):
    runtime, model = vl_embedder.runner.runtime, _on_cuda(vl_embedder.model)
    asked = EngineTuning(pack_sequences=True, sdpa_kernels=("flash", "math"), shape_buckets=True)
    resolved = resolve_options(RuntimeOptions(max_batch_tokens=64, max_batch_size=2, tuning=asked), runtime, model)
    assert (resolved.tuning.pack_sequences, resolved.tuning.sdpa_kernels, resolved.tuning.shape_buckets) == (
        True, ("flash", "math"), True)
    compiled = RuntimeOptions(max_batch_tokens=64, max_batch_size=2, tuning=EngineTuning(compile="aot_eager"))
    assert resolve_options(compiled, runtime, model).tuning.shape_buckets is True


def test_a_tuning_knob_on_the_constructor_is_refused_with_its_new_home(tiny_text_path):
    with pytest.raises(TypeError, match=r"pack_sequences tunes the engine, not the model: pass "
                                        r"tuning=EngineTuning\(pack_sequences=True\)"):
        Qwen3TextEmbedder(str(tiny_text_path), pack_sequences=True)
    with pytest.raises(TypeError, match=r"batch_overhead_tokens, compile tune the engine"):
        RuntimeOptions.split({"compile": True, "batch_overhead_tokens": 0})


def test_sdpa_kernels_without_sdpa_are_refused(tiny_text_path):
    with pytest.raises(ValueError, match=r"sdpa_kernels=\('math',\) needs attn_implementation='sdpa', not 'eager'"):
        Qwen3TextEmbedder(str(tiny_text_path), attn_implementation="eager", tuning=EngineTuning(sdpa_kernels=("math",)))


def test_tuning_takes_its_fields_only():
    assert RuntimeOptions(tuning={"host_workers": 2}).tuning == EngineTuning(host_workers=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unknown engine tuning option\(s\) \['warp'\]"):
        RuntimeOptions(tuning={"warp": 9})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tuning must be an EngineTuning"):
        RuntimeOptions(tuning="fast")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        EngineTuning(warp=9)  # type: ignore[call-arg]


_LOADS = """
import sys
from qwen3_vl_rag.core import EngineTuning, Qwen3TextEmbedder, Qwen3VLEmbedder
Qwen3VLEmbedder({vl!r}).embed(["a text"])
Qwen3TextEmbedder({text!r}).embed(["a text"])
print(sorted(m for m in sys.modules if ".accelerations" in m))
Qwen3TextEmbedder({text!r}, tuning=EngineTuning(pack_sequences=True)).embed(["a text"])
print(sorted(m for m in sys.modules if ".accelerations" in m))
"""


def test_the_default_path_does_not_import_the_accelerations(tiny_vl_path, tiny_text_path):
    out = subprocess.run([sys.executable, "-c", _LOADS.format(vl=str(tiny_vl_path), text=str(tiny_text_path))],
                         capture_output=True, text=True, check=True, timeout=300).stdout.splitlines()
    assert out[-2] == "[]"
    assert "qwen3_vl_rag.core.engine.accelerations.packing" in out[-1]


def test_a_vision_layer_of_another_layout_is_refused_with_the_transformers_version(tiny_vl_path):
    import transformers

    model = Qwen3VLEmbedder(str(tiny_vl_path)).model
    layer = next(m for m in model.modules() if type(m).__name__.endswith("VisionAttention"))
    del layer.qkv  # a layout without the fused projection this replacement assumes
    with pytest.raises(ValueError, match=f"cannot apply with transformers {transformers.__version__}: "
                                         f"{type(layer).__name__} lacks qkv"):
        install_grouped_attention(model, "sdpa")
    assert not any("forward" in vars(m) for m in model.modules())  # nothing was replaced
