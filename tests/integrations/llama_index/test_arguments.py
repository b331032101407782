"""Arguments users copy from HuggingFaceEmbedding / SentenceTransformerRerank / SemanticSplitterNodeParser reach
the model or are refused, never dropped (issue 15 #3); one name per concept across both adapters; serialisation
round-trips or refuses clearly."""

from __future__ import annotations

import json

import pytest
import torch
from llama_index.core.embeddings import MockEmbedding

from qwen3_vl_rag.integrations.llama_index import Qwen3SemanticSplitter, Qwen3VLEmbedding, Qwen3VLRerank

TEXT = ("Mountains rise above the valley. Hikers climb at dawn. The summit is cold. Quarterly revenue grew. "
        "Sales in Europe doubled. Costs stayed flat. Solar panels turn sunlight into electricity.")


def test_embedding_passes_anchor_arguments_to_the_model(tiny_vl_path, tmp_path):
    model = Qwen3VLEmbedding(str(tiny_vl_path), device="cpu", max_length=16, show_progress_bar=True,
                             cache_folder=str(tmp_path), trust_remote_code=False, normalize=True)
    core = model.embedder
    assert core.encoder.max_length == 16 and core.options.show_progress is True and core.runtime.device == "cpu"
    assert model.model_kwargs == {"device": "cpu", "max_length": 16, "show_progress": True,
                                  "cache_dir": str(tmp_path), "trust_remote_code": False}
    with pytest.raises((RuntimeError, AssertionError, ValueError)):  # never silently on the CPU
        Qwen3VLEmbedding(str(tiny_vl_path), device="cuda:99")


def test_unknown_and_unsupported_arguments_are_refused(tiny_vl_path, vl_embedder, vl_reranker, text_embedder):
    with pytest.raises(TypeError, match="unexpected argument.*pooling.*accepts: .*device.*max_length"):
        Qwen3VLEmbedding(str(tiny_vl_path), pooling="mean", lazy=True)
    with pytest.raises(ValueError, match="normalize=False"):
        Qwen3VLEmbedding(str(tiny_vl_path), normalize=False, lazy=True)
    with pytest.raises(ValueError, match="either embedder= or loading arguments \\(device\\)"):
        Qwen3VLEmbedding(embedder=vl_embedder, device="cpu")
    with pytest.raises(TypeError, match="unexpected argument.*use_fp16"):
        Qwen3VLRerank(reranker=vl_reranker, use_fp16=True)
    with pytest.raises(TypeError, match="unexpected argument.*sentence_splitter"):
        Qwen3SemanticSplitter(embedder=text_embedder, sentence_splitter=str.split)
    with pytest.raises(ValueError, match="disagrees"):
        Qwen3VLEmbedding(str(tiny_vl_path), device="cpu", model_kwargs={"device": "cuda"}, lazy=True)


def test_rerank_passes_anchor_arguments(tiny_vl_path):
    rerank = Qwen3VLRerank(model=str(tiny_vl_path), device="cpu", max_length=64, top_n=2)
    assert rerank.reranker.encoder.max_length < 100 and rerank.client is rerank.reranker  # default: 10,240
    assert rerank.model_kwargs == {"device": "cpu", "max_length": 64}
    assert Qwen3VLRerank(model_name=str(tiny_vl_path), lazy=True).model == str(tiny_vl_path)


def test_splitter_takes_a_llama_index_embed_model(text_embedder):
    """SemanticSplitterNodeParser(embed_model=...) is the anchor: the given model finds the boundaries (the
    default hub model is never loaded: the suite runs with HF_HUB_OFFLINE=1)."""
    seen = []

    class Recording(MockEmbedding):
        def _get_text_embeddings(self, texts):
            seen.extend(texts)
            return super()._get_text_embeddings(texts)

    splitter = Qwen3SemanticSplitter(embed_model=Recording(embed_dim=8), breakpoint_percentile_threshold=90,
                                     max_tokens=20)
    chunks = splitter.split_text(TEXT)
    assert seen and "".join(chunks).replace(" ", "") == TEXT.replace(" ", "")
    assert (splitter.breakpoint_type, splitter.breakpoint_amount) == ("percentile", 90)
    # LangChain's threshold names, and the adapter's own embedding as embed_model (its tokenizer counts tokens).
    qwen = Qwen3VLEmbedding(embedder=text_embedder)
    other = Qwen3SemanticSplitter(embed_model=qwen, breakpoint_threshold_type="standard_deviation",
                                  breakpoint_threshold_amount=1.5, max_tokens=24)
    assert (other.breakpoint_type, other.breakpoint_amount) == ("standard_deviation", 1.5)
    counts = text_embedder.count_tokens(other.split_text(TEXT)) if hasattr(text_embedder, "count_tokens") else None
    assert counts is None or max(counts) <= 24


def test_one_name_per_concept_with_aliases(tiny_vl_path, vl_embedder):
    a = Qwen3VLEmbedding(str(tiny_vl_path), embedder_kwargs={"device": "cpu"}, text_instruction="Doc.", lazy=True)
    b = Qwen3VLEmbedding(str(tiny_vl_path), model_kwargs={"device": "cpu"}, document_instruction="Doc.", lazy=True)
    assert (a.model_kwargs, a.document_instruction) == (b.model_kwargs, b.document_instruction) == (
        {"device": "cpu"}, "Doc.")
    assert Qwen3VLRerank(str(tiny_vl_path), reranker_kwargs={"device": "cpu"}, lazy=True).model_kwargs == {
        "device": "cpu"}
    wrapped = Qwen3VLEmbedding(embedder=vl_embedder)
    assert wrapped.client is wrapped.embedder is vl_embedder and wrapped.dimension == vl_embedder.dimension
    assert Qwen3VLRerank(str(tiny_vl_path), lazy=True).top_n is None


def test_lazy_loads_on_first_use(tmp_path):
    model = Qwen3VLEmbedding(str(tmp_path / "absent"), lazy=True)  # nothing loads here
    with pytest.raises(OSError):
        model.get_query_embedding("x")
    with pytest.raises(OSError):
        Qwen3VLEmbedding(str(tmp_path / "absent"))  # the default: at construction


def test_serialisation_with_a_torch_dtype_round_trips(tiny_vl_path):
    model = Qwen3VLEmbedding(str(tiny_vl_path), model_kwargs={"torch_dtype": torch.float32, "device": "cpu"})
    data = json.loads(model.to_json())
    assert data["model_kwargs"] == {"torch_dtype": "float32", "device": "cpu"}
    copy = Qwen3VLEmbedding.from_dict(data)
    assert copy.get_query_embedding("x") == pytest.approx(model.get_query_embedding("x"), abs=1e-6)
    rerank = Qwen3VLRerank(str(tiny_vl_path), model_kwargs={"dtype": torch.float32}, lazy=True)
    assert json.loads(rerank.to_json())["model_kwargs"] == {"dtype": "float32"}
    with pytest.raises((TypeError, ValueError), match=r"model_kwargs\['device_map'\].*cannot be serialised"):
        Qwen3VLEmbedding(str(tiny_vl_path), model_kwargs={"device_map": object()}, lazy=True).to_json()


def test_serialisation_of_a_wrapped_remote_embedder_refuses_clearly(vl_embedder):
    class RemoteEmbedder:  # stands for core.remote.RemoteEmbedder: only its class name matters here
        model_name = "qwen/qwen3-embedding-8b"

        def __getattr__(self, name):
            return getattr(vl_embedder, name)

    remote = RemoteEmbedder()
    model = Qwen3VLEmbedding(embedder=remote)
    data = model.to_dict()
    assert data["embedder_class"] == "RemoteEmbedder"
    with pytest.raises(ValueError, match=r"wrapped a RemoteEmbedder.*embedder=RemoteEmbedder"):
        Qwen3VLEmbedding.from_dict(data)
    assert Qwen3VLEmbedding.from_dict(data, embedder=remote).embedder is remote


def test_dimensions_the_model_cannot_give_are_refused_when_the_model_is_known(tiny_vl_path, vl_embedder):
    """Checked by the core model (issue 23, item 17): at construction when it loads or is passed in, at the first
    use with ``lazy=True``; a remote model of known size without a request, one of unknown size at its answer."""
    from qwen3_vl_rag.core.remote import RemoteEmbedder

    from ...core.adversarial import ForwardCounter

    with pytest.raises(ValueError, match="between 1 and 64, got 4096"):
        Qwen3VLEmbedding(str(tiny_vl_path), dimensions=4096)
    for bad in (65, 0, -1):
        with pytest.raises(ValueError, match=f"got {bad}"):
            Qwen3VLEmbedding(embedder=vl_embedder, dimensions=bad)
    assert Qwen3VLEmbedding(embedder=vl_embedder, dimensions=64).dimension == 64
    lazy = Qwen3VLEmbedding(str(tiny_vl_path), dimensions=4096, lazy=True)
    with pytest.raises(ValueError, match="got 4096"):
        lazy.get_text_embedding_batch(["a", "b"])
    with ForwardCounter(vl_embedder) as forwards, pytest.raises(ValueError, match="got 4096"):
        Qwen3VLEmbedding(embedder=vl_embedder, dimensions=4096, lazy=True)
    assert forwards.calls == 0
    nowhere = "http://127.0.0.1:9/v1"  # nothing listens: a request would be a connection error
    with pytest.raises(ValueError, match="between 1 and 4096, got 5000"):
        Qwen3VLEmbedding(embedder=RemoteEmbedder("qwen/qwen3-embedding-8b", nowhere, api_key_env=None), dimensions=5000)
    unknown = RemoteEmbedder("some-model", nowhere, protocol="openai", api_key_env=None)
    assert Qwen3VLEmbedding(embedder=unknown, dimensions=5000).dimensions == 5000  # size unknown until it answers
    with pytest.raises(ValueError, match="positive integer"):
        Qwen3VLEmbedding(embedder=unknown, dimensions=0)
