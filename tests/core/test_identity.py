"""Embedding identities: which embedders share a vector space, and the guard against mixing spaces."""

from __future__ import annotations

import json

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
