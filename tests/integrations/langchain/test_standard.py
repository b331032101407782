"""LangChain's standard embedding suites (langchain-tests), unmodified, against Qwen3VLEmbeddings."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from qwen3_vl_rag.integrations.langchain import Qwen3VLEmbeddings


@pytest.mark.disable_socket  # pytest-socket: as LangChain partner packages run their unit tests
class TestQwen3VLEmbeddingsUnit(EmbeddingsUnitTests):
    """The released model id with ``lazy=True``: constructing must neither download nor load anything."""

    @property
    def embeddings_class(self) -> type[Qwen3VLEmbeddings]:
        return Qwen3VLEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model_name": "Qwen/Qwen3-VL-Embedding-2B", "dimensions": 512, "lazy": True}


class TestQwen3VLEmbeddingsIntegration(EmbeddingsIntegrationTests):
    """The real model code on the session's tiny random Qwen3-VL checkpoint."""

    @pytest.fixture(autouse=True)
    def _tiny_model(self, tiny_vl_path):
        # The suites read parameters from a property; the session fixture's path is stored on the
        # test instance before the suite's ``model`` fixture builds the embeddings from it.
        self.tiny_vl_path = tiny_vl_path

    @property
    def embeddings_class(self) -> type[Qwen3VLEmbeddings]:
        return Qwen3VLEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model_name": str(self.tiny_vl_path)}
