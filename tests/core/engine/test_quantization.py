"""``quantization=`` on the four local model classes (core/engine/quantization.py), on tiny random models.

Each mode whose backend runs on a CPU loads and embeds / scores here, close to float32 (a bound a broken
quantization fails: random or zeroed weights give cosines near 0). What cannot run here (a CUDA backend on
this CPU, a missing library, a dtype the kernels do not take) is refused before any weights load: the tests
pass a path that does not exist, so reaching ``from_pretrained`` would fail with another error. bitsandbytes
is hidden by putting None in ``sys.modules`` (what an uninstalled package looks like to ``find_spec``).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from qwen3_vl_rag.core import Qwen3Reranker, Qwen3TextEmbedder, Qwen3VLEmbedder, Qwen3VLReranker
from qwen3_vl_rag.core.engine import RuntimeOptions
from qwen3_vl_rag.core.engine.quantization import QuantizationUnavailable, quantized_linears, report

from ...conftest import random_image

#: the lowest cosine to float32 each mode keeps on the tiny models (measured: int8 >= 0.9996, int4 >= 0.988)
COSINE = {"int8": 0.995, "int4": 0.97}
SCORE_DELTA = {"int8": 0.01, "int4": 0.03}  # measured: int8 <= 0.0016, int4 <= 0.0041

CLASSES = {
    "vl-embedder": (Qwen3VLEmbedder, "tiny_vl_path"),
    "vl-reranker": (Qwen3VLReranker, "tiny_vl_path"),
    "text-embedder": (Qwen3TextEmbedder, "tiny_text_path"),
    "text-reranker": (Qwen3Reranker, "tiny_text_path"),
}


def _run(model):
    if isinstance(model, Qwen3VLEmbedder):
        return model.embed(["a red square", {"image": random_image(3)}, {"text": "a cat", "image": random_image(4)}])
    if isinstance(model, Qwen3TextEmbedder):
        return model.embed(["a red square", "gravity pulls bodies together"])
    if isinstance(model, Qwen3VLReranker):
        return model.score_pairs([("what is red?", "a red square"), ("a picture", {"image": random_image(5)})])
    return model.score_pairs([("what is red?", "a red square"), ("gravity", "bodies attract")])


@pytest.fixture(scope="module")
def float_outputs(request):
    return {}


@pytest.mark.parametrize("mode", ["int8", "int4"])
@pytest.mark.parametrize("kind", list(CLASSES))
def test_each_mode_loads_and_stays_close_to_float32(kind, mode, request, float_outputs):
    cls, fixture = CLASSES[kind]
    path = str(request.getfixturevalue(fixture))
    if kind not in float_outputs:
        float_outputs[kind] = _run(cls(path))
    model = cls(path, quantization=mode)
    assert model.options.quantization == mode and model.quantization is not None
    assert model.quantization.backend == {"int8": "torch-dynamic-int8", "int4": "bitsandbytes-nf4"}[mode]
    assert quantized_linears(model.model) > 0
    out, ref = _run(model), float_outputs[kind]
    assert out.shape == ref.shape and out.dtype == np.float32
    if out.ndim == 2:  # unit vectors: cosine per row
        cosine = np.sum(out * ref, axis=1)
        assert cosine.min() >= COSINE[mode], cosine
        assert cosine.min() < 1 - 1e-7  # the weights were quantized: not the float32 vectors
    else:
        assert np.max(np.abs(out - ref)) <= SCORE_DELTA[mode]
        assert np.all((out >= 0) & (out <= 1))


def test_which_modules_stay_in_float(tiny_vl_path):
    """CPU int8 quantizes the language and vision towers (measured faster on images at the same fidelity);
    NF4 keeps the vision tower in float; the reranker's yes/no row is float32 in both."""
    import torch.ao.nn.quantized.dynamic as qd

    reranker = Qwen3VLReranker(str(tiny_vl_path), quantization="int8")
    assert qd.Linear in {type(m) for m in reranker.model.visual.modules()}
    assert qd.Linear in {type(m) for m in reranker.model.language_model.modules()}
    assert reranker.head.row.dtype == torch.float32
    reranker = Qwen3VLReranker(str(tiny_vl_path), quantization="int4")
    assert reranker.head.row.dtype == torch.float32
    assert not any("bitsandbytes" in type(m).__module__ for m in reranker.model.visual.modules())
    assert any("bitsandbytes" in type(m).__module__ for m in reranker.model.language_model.modules())


def test_a_transformers_config_passes_through(tiny_text_path):
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="fp4", bnb_4bit_compute_dtype=torch.float32)
    embedder = Qwen3TextEmbedder(str(tiny_text_path), quantization=config)
    assert embedder.quantization.mode == "config" and embedder.quantization.backend == "BitsAndBytesConfig"
    assert embedder.model.config.quantization_config.bnb_4bit_quant_type == "fp4"
    assert quantized_linears(embedder.model) > 0
    assert embedder.embed(["hello"]).shape == (1, embedder.dimension)


@pytest.mark.parametrize("kind", list(CLASSES))
@pytest.mark.parametrize("value", ["int2", "INT8", 8, {"load_in_8bit": True}, True])
def test_a_bad_value_is_refused_naming_it(kind, value):
    cls, _ = CLASSES[kind]
    with pytest.raises(ValueError, match=rf"quantization={value!r} is not supported"):
        cls("/does/not/exist", quantization=value)


@pytest.mark.parametrize("kind", list(CLASSES))
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_cuda_modes_are_refused_on_a_cpu_before_loading(kind, mode):
    cls, _ = CLASSES[kind]
    with pytest.raises(QuantizationUnavailable, match=rf"quantization={mode!r} on cuda uses bitsandbytes-"
                                                      r".*needs a CUDA device and none is available"):
        cls("/does/not/exist", device="cuda", quantization=mode)


@pytest.mark.parametrize("kind", list(CLASSES))
def test_int4_is_refused_without_bitsandbytes(kind, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    cls, _ = CLASSES[kind]
    with pytest.raises(QuantizationUnavailable, match=r"bitsandbytes is not installed \(pip install "
                                                      r"'qwen3-vl-rag\[quant\]'\)"):
        cls("/does/not/exist", quantization="int4")
    rows = {(r["mode"], r["device"]): r for r in report()}
    assert rows[("int4", "cpu")]["available"] is False and rows[("int8", "cpu")]["available"] is True


def test_cpu_int8_refuses_a_dtype_its_kernels_do_not_take():
    with pytest.raises(QuantizationUnavailable, match="float32 activations, not torch.bfloat16"):
        Qwen3VLEmbedder("/does/not/exist", quantization="int8", torch_dtype=torch.bfloat16)


def test_quantization_and_quantization_config_together_are_refused(tiny_text_path):
    from transformers import BitsAndBytesConfig

    with pytest.raises(ValueError, match="quantization= or quantization_config=, not both"):
        Qwen3TextEmbedder(str(tiny_text_path), quantization="int8", quantization_config=BitsAndBytesConfig())


def test_runtime_options_check_the_value():
    assert RuntimeOptions(quantization="int4").quantization == "int4"
    assert RuntimeOptions.split({"quantization": "int8", "cache_dir": "x"}) == (
        RuntimeOptions(quantization="int8"), {"cache_dir": "x"})
    with pytest.raises(ValueError, match="quantization='fp8' is not supported"):
        RuntimeOptions(quantization="fp8")


def test_a_quantized_lm_head_is_refused_by_the_relevance_head():
    """Its stored bytes are not the weights: reading the yes/no rows from them would give wrong scores."""
    from qwen3_vl_rag.core.engine.heads import yes_no_head

    with pytest.raises(ValueError, match=r"the lm_head is quantized \(torch.int8\).*llm_int8_skip_modules"):
        yes_no_head(torch.zeros(8, 4, dtype=torch.int8), tokenizer=None)
