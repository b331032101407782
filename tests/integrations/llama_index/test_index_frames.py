"""The one stack walk of the LlamaIndex adapter checks the llama-index-core layout it relies on at import."""

import importlib
import importlib.metadata

import pytest
from llama_index.core.indices import utils as index_utils

from qwen3_vl_rag.integrations.llama_index import _index_frames


def test_a_llama_index_without_the_expected_embed_nodes_fails_at_import_naming_its_version(monkeypatch):
    def embed_nodes(nodes, embed_model, show_progress=False):  # a release that embeds some other way
        return {node.node_id: embed_model.get_text_embedding(node.text) for node in nodes}

    version = importlib.metadata.version("llama-index-core")
    monkeypatch.setattr(index_utils, "embed_nodes", embed_nodes)
    try:
        with pytest.raises(ImportError, match=f"llama-index-core {version} does not have; VectorStoreIndex would "
                                              "embed image nodes as text"):
            importlib.reload(_index_frames)
    finally:
        monkeypatch.undo()
        importlib.reload(_index_frames)
    assert index_utils.embed_nodes.__code__ in _index_frames._INDEX_EMBED_CODES
