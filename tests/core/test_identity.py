"""Embedding identities: which embedders share a vector space, and the guard against mixing spaces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qwen3_vl_rag.core.identity import (
    EmbeddingIdentity,
    EmbeddingSpaceMismatch,
    check_same_space,
    identity_of,
    model_key,
)


def test_local_embedders_expose_their_identity(vl_embedder, text_embedder):
    vl, text = vl_embedder.identity, text_embedder.identity
    assert vl.dimension == vl_embedder.dimension and text.dimension == text_embedder.dimension
    assert vl.accepts_images and vl.accepts_video and not text.accepts_images and not text.accepts_video
    assert vl.model == model_key(vl_embedder.model_name) and vl.prompt_format == "qwen3-vl-chat"
    assert text.prompt_format == "qwen3-embedding"


def test_model_key_ignores_organisation_and_directory():
    assert model_key("Qwen/Qwen3-VL-Embedding-8B") == model_key("/models/Qwen3-VL-Embedding-8B/") == \
        "qwen3-vl-embedding-8b"


def test_mixing_different_models_raises_naming_both(vl_embedder, text_embedder):
    with pytest.raises(EmbeddingSpaceMismatch) as info:
        check_same_space(vl_embedder, text_embedder)
    message = str(info.value)
    assert vl_embedder.identity.model in message and text_embedder.identity.model in message
    assert "model" in message and "prompt format" in message


def test_same_model_same_dimension_passes_whatever_the_backend():
    local = EmbeddingIdentity("qwen3-vl-embedding-8b", 4096, frozenset({"text", "image", "video"}))
    remote = EmbeddingIdentity("Qwen/Qwen3-VL-Embedding-8B", 4096, frozenset({"text", "image", "video"}))
    assert check_same_space(local, remote) == local


@pytest.mark.parametrize("other", [
    EmbeddingIdentity("qwen3-vl-embedding-8b", 1024, frozenset({"text"})),             # another MRL cut
    EmbeddingIdentity("qwen3-embedding-8b", 4096, frozenset({"text"}), "qwen3-embedding"),  # same width
    EmbeddingIdentity("qwen3-vl-embedding-8b", 4096, frozenset({"text"}), "qwen3-embedding"),  # raw text prompts
])
def test_every_difference_is_caught(other):
    stored = EmbeddingIdentity("qwen3-vl-embedding-8b", 4096, frozenset({"text", "image", "video"}))
    with pytest.raises(EmbeddingSpaceMismatch, match="cannot mix"):
        check_same_space(stored, other)


def test_identity_round_trips_through_json_for_storage(vl_embedder):
    stored = json.loads(json.dumps(vl_embedder.identity.to_dict()))
    assert EmbeddingIdentity.from_dict(stored) == vl_embedder.identity
    check_same_space(stored, vl_embedder)
    with pytest.raises(EmbeddingSpaceMismatch):
        check_same_space(stored, vl_embedder.identity.with_dimension(32))


def test_objects_without_identity_are_a_type_error():
    with pytest.raises(TypeError, match="no embedding identity"):
        identity_of(object())


def test_check_documents_space_names_the_spaces_and_ignores_unstamped():
    from qwen3_vl_rag.core.identity import (
        SPACE_METADATA_KEY,
        EmbeddingIdentity,
        EmbeddingSpaceMismatch,
        check_documents_space,
        space_label,
    )

    vl = space_label(EmbeddingIdentity("Qwen3-VL-Embedding-8B", 4096))
    text = space_label(EmbeddingIdentity("Qwen3-Embedding-8B", 4096, prompt_format="qwen3-embedding"))
    check_documents_space([{SPACE_METADATA_KEY: vl}, None, {}, {SPACE_METADATA_KEY: vl}])
    with pytest.raises(EmbeddingSpaceMismatch) as info:
        check_documents_space([{SPACE_METADATA_KEY: vl}, {"x": 1}, {SPACE_METADATA_KEY: text}])
    assert "first at index 2" in str(info.value) and "qwen3-embedding-8b" in str(info.value)


# -- local checkpoints: the weights decide, not the folder's name --------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs' checkpoints in folders of the same name, a renamed copy of run A, and run A as a hub
    snapshot in a Hugging Face cache (the layout ``from_pretrained`` reads offline)."""
    import shutil

    from qwen3_vl_rag.testing import build_tiny_vl_model

    root = tmp_path_factory.mktemp("runs")
    a = build_tiny_vl_model(root / "runA" / "checkpoint-1000", seed=1)
    b = build_tiny_vl_model(root / "runB" / "checkpoint-1000", seed=2)
    copy = shutil.copytree(a, root / "exported" / "Tiny-Emb")
    repo = root / "hub-cache" / "models--acme--Tiny-Emb"
    shutil.copytree(a, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    return {"a": a, "b": b, "copy": copy, "cache": root / "hub-cache"}


def test_checkpoints_in_folders_of_the_same_name_do_not_share_an_identity(runs):
    from qwen3_vl_rag.core import Qwen3VLEmbedder

    a, b = Qwen3VLEmbedder(str(runs["a"])), Qwen3VLEmbedder(str(runs["b"]))
    assert a.identity.model == b.identity.model == "checkpoint-1000"
    va, vb = a.embed(["the same text"])[0], b.embed(["the same text"])[0]
    assert float(va @ vb) < 0.9  # their vectors are not comparable: different spaces
    with pytest.raises(EmbeddingSpaceMismatch, match="different weights"):
        check_same_space(a, b)
    with pytest.raises(EmbeddingSpaceMismatch, match="different weights"):
        check_same_space(json.loads(json.dumps(a.identity.to_dict())), b)


def test_the_same_weights_share_an_identity_wherever_they_lie(runs):
    """A renamed copy and the hub id of the same weights: one space (the fingerprints agree)."""
    from qwen3_vl_rag.core import Qwen3VLEmbedder

    a = Qwen3VLEmbedder(str(runs["a"]))
    copy = Qwen3VLEmbedder(str(runs["copy"]))
    hub = Qwen3VLEmbedder("acme/Tiny-Emb", cache_dir=str(runs["cache"]))
    assert hub.identity.model == "tiny-emb" and hub.identity.weights == copy.identity.weights == a.identity.weights
    assert check_same_space(a, copy) and check_same_space(hub, copy) and check_same_space(hub, a)
    np.testing.assert_allclose(hub.embed(["x"]), a.embed(["x"]), atol=1e-6)


def test_served_models_and_old_records_are_matched_by_name(vl_embedder):
    """No fingerprint on one side (a served model's name; a record stored before fingerprints): the
    model name decides, as before; a served identity's dict is unchanged."""
    local = vl_embedder.identity
    assert local.weights is not None and local.weights.startswith("w1:")
    served = EmbeddingIdentity(local.model, local.dimension, local.modalities)
    assert served.to_dict() == {"model": local.model, "dimension": 64, "modalities": ["image", "text", "video"],
                                "prompt_format": "qwen3-vl-chat"}
    old = EmbeddingIdentity.from_dict(served.to_dict())
    assert old.weights is None and check_same_space(old, local) and check_same_space(local, served)
    with pytest.raises(EmbeddingSpaceMismatch, match="different model"):
        check_same_space(local, EmbeddingIdentity("other", 64))
    assert EmbeddingIdentity.from_dict(local.to_dict()) == local


def test_labels_carry_the_fingerprint_and_compare_by_the_same_rule(runs, vl_embedder):
    from qwen3_vl_rag.core import Qwen3VLEmbedder
    from qwen3_vl_rag.core.identity import (
        SPACE_METADATA_KEY,
        check_documents_space,
        identity_from_label,
        same_space_labels,
        space_label,
    )

    a, b = (Qwen3VLEmbedder(str(runs[k])).identity for k in ("a", "b"))
    la, lb = space_label(a), space_label(b)
    assert la == f"checkpoint-1000|qwen3-vl-chat|64|{a.weights}" and identity_from_label(la).weights == a.weights
    served = space_label(EmbeddingIdentity("checkpoint-1000", 64))
    assert not same_space_labels(la, lb) and same_space_labels(la, served) and same_space_labels(served, lb)
    assert not same_space_labels(la, "checkpoint-1000|qwen3-vl-chat|32")
    check_documents_space([{SPACE_METADATA_KEY: la}, {SPACE_METADATA_KEY: served}, None])
    with pytest.raises(EmbeddingSpaceMismatch, match="first at index 1"):
        check_documents_space([{SPACE_METADATA_KEY: la}, {SPACE_METADATA_KEY: lb}])


# -- vector precision ------------------------------------------------------------------------------
def _ranges(seed: int, d: int = 8):
    from qwen3_vl_rag.core.precision import calibration_ranges

    return calibration_ranges(np.random.default_rng(seed).normal(size=(50, d)))


BASE = EmbeddingIdentity("qwen3-vl-embedding-2b", 8, frozenset({"text", "image", "video"}), weights="w1:abc")


@pytest.mark.parametrize("a, b, named", [
    (BASE, BASE.with_precision("int8", ranges=_ranges(1)), "precision"),
    (BASE.with_precision("float16"), BASE, "precision"),
    (BASE.with_precision("binary"), BASE.with_precision("ubinary"), "precision"),
    (BASE.with_precision("int8", ranges=_ranges(1)), BASE.with_precision("uint8", ranges=_ranges(1)), "precision"),
    (BASE.with_precision("int8", ranges=_ranges(1)), BASE.with_precision("int8", ranges=_ranges(2)),
     "precision ranges"),
])
def test_identity_refuses_mixing_precisions(a, b, named):
    assert a.differences(b) == [named]
    with pytest.raises(EmbeddingSpaceMismatch, match=f"different {named};"):
        check_same_space(a, b)


def test_same_precision_and_ranges_share_a_space():
    check_same_space(BASE.with_precision("int8", ranges=_ranges(1)),
                     BASE.with_precision("int8", calibration_embeddings=np.random.default_rng(1).normal(size=(50, 8))))
    check_same_space(BASE.with_precision("binary"), BASE.with_precision("binary"))
    assert BASE.with_precision("float32") == BASE and BASE.float_vectors
    assert BASE.with_precision("float16").float_vectors and not BASE.with_precision("ubinary").float_vectors


def test_precision_round_trips_and_old_records_are_float32():
    int8 = BASE.with_precision("int8", ranges=_ranges(3))
    data = json.loads(json.dumps(int8.to_dict()))
    assert data["precision"] == "int8" and len(data["ranges_fingerprint"]) == 12
    assert EmbeddingIdentity.from_dict(data) == int8
    assert "precision" not in BASE.to_dict()  # float32 records are written as before
    old = {"model": "qwen3-vl-embedding-2b", "dimension": 8, "modalities": ["text"], "prompt_format": "qwen3-vl-chat"}
    assert EmbeddingIdentity.from_dict(old).precision == "float32"
    with pytest.raises(EmbeddingSpaceMismatch, match="precision"):
        check_same_space(old, BASE.with_precision("binary"))
    assert "int8/" in str(int8) and "binary" in str(BASE.with_precision("binary"))


def test_with_precision_checks_its_arguments():
    with pytest.raises(ValueError, match=r"shape \(2, 4\).*8 dimensions"):
        BASE.with_precision("int8", ranges=_ranges(1, d=4))
    with pytest.raises(ValueError, match="needs per-dimension ranges"):
        BASE.with_precision("uint8")
    with pytest.raises(ValueError, match="precision must be one of"):
        BASE.with_precision("int4")
    with pytest.raises(ValueError, match="needs the fingerprint"):
        EmbeddingIdentity("m", 8, precision="int8")


def test_space_labels_carry_the_precision():
    from qwen3_vl_rag.core.identity import identity_from_label, same_space_labels, space_label

    for identity in (BASE, BASE.with_precision("float16"), BASE.with_precision("int8", ranges=_ranges(1)),
                     EmbeddingIdentity("qwen3-embedding-0.6b", 8, prompt_format="qwen3-embedding",
                                       precision="binary")):
        back = identity_from_label(space_label(identity))
        assert back is not None and back.same_space(identity)
    assert not same_space_labels(space_label(BASE), space_label(BASE.with_precision("float16")))
