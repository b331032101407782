"""Multimodal RAG with LlamaIndex: texts and images of examples/data in one index, retrieved and reranked.

    python examples/llama_index_multimodal_rag.py --query "a mountain at sunrise" --top-k 5
    python examples/llama_index_multimodal_rag.py --model DIR --reranker DIR --chunker-model DIR
    python examples/llama_index_multimodal_rag.py --tiny           # offline smoke run on random tiny models

IngestionPipeline([Qwen3SemanticSplitter, Qwen3VLEmbedding]) chunks the .txt files and embeds the chunks
and the images into one Qwen3VLVectorStoreIndex (a VectorStoreIndex whose retriever also finds text
nodes when the store is Qdrant, Chroma, ...); a text query retrieves from both, Qwen3VLRerank reorders.
The same flags as examples/langchain_multimodal_rag.py and examples/quickstart.py (see _load.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _load import data_files, load, run_example


def load_models(args):
    """Each model loads at construction: a missing one ends the run with one line saying why."""
    from qwen3_vl_rag.integrations.llama_index import Qwen3SemanticSplitter, Qwen3VLEmbedding, Qwen3VLRerank

    embed_model = load("embedding model", args.model, "--model",
                       lambda: Qwen3VLEmbedding(args.model, dimensions=args.dimensions))
    reranker = load("reranker", args.reranker, "--reranker", lambda: Qwen3VLRerank(args.reranker, top_n=args.top_n))
    splitter = load("chunking model", args.chunker_model, "--chunker-model",
                    lambda: Qwen3SemanticSplitter(args.chunker_model, max_tokens=args.max_tokens))
    return splitter, embed_model, reranker


def read_documents(folder: Path):
    """Text files as Documents, images as ImageDocuments; the file name is metadata (and keeps image nodes
    from being empty: VectorStoreIndex skips nodes whose embedding text is empty)."""
    from llama_index.core.schema import Document, ImageDocument

    texts, images = data_files(folder)
    return ([Document(text=p.read_text(encoding="utf-8"), metadata={"file_name": p.name}) for p in texts]
            + [ImageDocument(image_path=str(p), metadata={"file_name": p.name}) for p in images])


def run(args: argparse.Namespace) -> None:
    from llama_index.core import Settings
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.schema import ImageNode

    from qwen3_vl_rag.integrations.llama_index import Qwen3VLVectorStoreIndex

    splitter, embed_model, reranker = load_models(args)
    Settings.embed_model = embed_model  # never fall back to LlamaIndex's OpenAI default

    nodes = IngestionPipeline(transformations=[splitter, embed_model]).run(documents=read_documents(args.data))
    index = Qwen3VLVectorStoreIndex(nodes, embed_model=embed_model)
    images = sum(isinstance(n, ImageNode) for n in nodes)
    print(f"indexed {len(nodes)} nodes ({len(nodes) - images} text chunks, {images} images) from {args.data} "
          f"({embed_model.dimension}-d vectors)")
    print(f"embedding: {embed_model.model_name}\nreranker:  {reranker.model}\nchunker:   {splitter.model_name}")

    retriever = index.as_retriever(similarity_top_k=args.top_k)
    for query in args.query:
        hits = retriever.retrieve(query)
        ranked = reranker.postprocess_nodes(hits, query_str=query)
        retrieval = {hit.node.node_id: hit.score for hit in hits}
        print(f"\nquery: {query!r}  (rerank score, retrieval score)")
        for rank, hit in enumerate(ranked, 1):
            node = hit.node
            if isinstance(node, ImageNode):
                label = f"[image] {node.metadata.get('file_name', node.image_path)}"
            else:
                snippet = " ".join(node.text.split())[:70]
                label = f"[text]  {node.metadata.get('file_name', '')}: {snippet}"
            print(f"{rank:2d}. {hit.score:.3f}  {retrieval[node.node_id]:.3f}  {label}")


if __name__ == "__main__":
    run_example(run, __doc__)
