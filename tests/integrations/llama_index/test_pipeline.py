"""The package's main job: IngestionPipeline([splitter, embedding]) -> one VectorStoreIndex -> rerank."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from llama_index.core import VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import ImageNode, MetadataMode, TextNode

from qwen3_vl_rag.integrations.llama_index import Qwen3VLRerank

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "llama_index_multimodal_rag.py"


def check_index(nodes, documents, embed_model, vl_embedder):
    images = [n for n in nodes if isinstance(n, ImageNode)]
    texts = [n for n in nodes if not isinstance(n, ImageNode)]
    assert len(images) == 3 and len(texts) >= 3
    assert {type(n) for n in texts} == {TextNode}

    # Vectors are the core embedder's for the same items: images as images, chunks as text with metadata.
    expected = vl_embedder.embed_documents([{"image": n.image_path} for n in images]
                                           + [n.get_content(metadata_mode=MetadataMode.EMBED) for n in texts])
    assert np.allclose([n.embedding for n in images + texts], expected, atol=1e-5)

    index = VectorStoreIndex(nodes, embed_model=embed_model)
    hits = index.as_retriever(similarity_top_k=len(nodes)).retrieve("a mountain at sunrise")
    assert sorted(h.node.node_id for h in hits) == sorted(n.node_id for n in nodes)  # one index, both kinds
    assert {type(h.node) for h in hits} == {ImageNode, TextNode}
    query = vl_embedder.embed_queries(["a mountain at sunrise"])[0]
    by_id = {n.node_id: n for n in nodes}
    for hit in hits:
        assert np.isclose(hit.score, float(np.dot(query, by_id[hit.node.node_id].embedding)), atol=1e-4)
    return hits


def test_pipeline_puts_texts_and_images_in_one_index(splitter, embed_model, vl_embedder, vl_reranker, documents):
    nodes = IngestionPipeline(transformations=[splitter, embed_model]).run(documents=documents)
    hits = check_index(nodes, documents, embed_model, vl_embedder)

    ranked = Qwen3VLRerank(reranker=vl_reranker).postprocess_nodes(hits, query_str="a mountain at sunrise")
    assert {type(h.node) for h in ranked} == {ImageNode, TextNode}
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)


def test_async_pipeline_gives_the_same_vectors(splitter, embed_model, vl_embedder, documents):
    pipeline = IngestionPipeline(transformations=[splitter, embed_model])
    nodes = asyncio.run(pipeline.arun(documents=documents))
    check_index(nodes, documents, embed_model, vl_embedder)


def run_example(*args, tmpdir=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def test_example_runs_offline_with_tiny_models(tmp_path):
    """Issue 15 too: a loud --tiny run."""
    result = run_example("--tiny", "--top-k", "50", "--query", "solar panels", "--dimensions", "16", tmpdir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "WARNING: --tiny: random tiny models" in result.stderr and "(16-d vectors)" in result.stdout
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("torchinductor")] == []  # tiny models removed
    out = result.stdout
    assert re.search(r"indexed \d+ nodes \(\d+ text chunks, 3 images\)", out)
    assert "[image] mountain_sun.png" in out and "[image] bar_chart.png" in out
    assert "[text]  solar_energy.txt:" in out and "[text]  sales_report.txt:" in out


def test_example_without_weights_exits_with_one_sentence():
    result = run_example("--model", "/nonexistent/qwen3-vl")
    assert result.returncode != 0
    message = result.stderr.strip()
    assert "Traceback" not in result.stderr
    assert message.startswith("Could not load the embedding model '/nonexistent/qwen3-vl'")
    assert "no such directory" in message and len(message.splitlines()) == 1


def test_example_says_which_failure_and_the_fix(tiny_text_path):
    """Issue 15: one line that tells a wrong kind of checkpoint from a missing one (the test above)."""
    wrong = run_example("--model", str(tiny_text_path))
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert "wrong kind of model" in wrong.stderr and "'qwen3' checkpoint" in wrong.stderr
