"""Multimodal RAG with LangChain: text chunks and images of examples/data in one vector store, retrieved and
reranked.

    python examples/langchain_multimodal_rag.py --query "a mountain at sunrise" --top-k 5
    python examples/langchain_multimodal_rag.py --model DIR --reranker DIR --chunker-model DIR
    python examples/langchain_multimodal_rag.py --tiny           # offline smoke run on random tiny models

The texts are split with Qwen3SemanticChunker and stored with add_documents, the images with add_images
(any LangChain VectorStore; here InMemoryVectorStore), all in one space; a ContextualCompressionRetriever
reranks the candidates with Qwen3VLRerank (the reranker sees the images). The same flags as
examples/llama_index_multimodal_rag.py and examples/quickstart.py (see _load.py).
"""

from __future__ import annotations

import argparse
import sys

from _load import data_files, load, run_example


def run(args: argparse.Namespace) -> None:
    try:
        from langchain_classic.retrievers import ContextualCompressionRetriever
        from langchain_core.vectorstores import InMemoryVectorStore

        from qwen3_vl_rag.integrations.langchain import (
            Qwen3SemanticChunker,
            Qwen3VLEmbeddings,
            Qwen3VLRerank,
            add_documents,
            add_images,
        )
    except ImportError as exc:
        sys.exit(f"This example needs LangChain ({exc.name} is missing): pip install -e \".[langchain]\"")

    # Each model loads here (at construction): a missing one ends the run with one line saying why.
    embeddings = load("embedding model", args.model, "--model",
                      lambda: Qwen3VLEmbeddings(model_name=args.model, dimensions=args.dimensions))
    compressor = load("reranker", args.reranker, "--reranker",
                      lambda: Qwen3VLRerank(model_name=args.reranker, top_n=args.top_n))
    chunker = load("chunking model", args.chunker_model, "--chunker-model", lambda: Qwen3SemanticChunker(
        args.chunker_model, max_tokens=args.max_tokens, add_start_index=True))

    text_files, image_files = data_files(args.data)
    chunks = chunker.create_documents([p.read_text(encoding="utf-8") for p in text_files],
                                      metadatas=[{"source": p.name, "modality": "text"} for p in text_files])
    store = InMemoryVectorStore(embeddings)
    # Both helpers stamp {"embedding_space": ...}: the reranker refuses results that mix two models' vectors.
    add_documents(store, chunks, ids=[f"text:{c.metadata['source']}:{c.metadata['start_index']}" for c in chunks])
    add_images(store, image_files, [{"source": p.name, "modality": "image"} for p in image_files],
               ids=[f"image:{p.name}" for p in image_files])
    print(f"store: {len(chunks)} text chunks from {len(text_files)} files and {len(image_files)} images "
          f"({embeddings.dimension}-d vectors)")

    retriever = ContextualCompressionRetriever(
        base_compressor=compressor, base_retriever=store.as_retriever(search_kwargs={"k": args.top_k})
    )
    for query in args.query:
        print(f"\n{query!r}")
        for doc in retriever.invoke(query):
            meta = doc.metadata
            if meta["modality"] == "image":
                print(f"  {meta['relevance_score']:.3f}  image  {meta['source']}")
            else:
                snippet = " ".join(doc.page_content.split())[:70]
                print(f"  {meta['relevance_score']:.3f}  text   {meta['source']}@{meta['start_index']}  {snippet}")


if __name__ == "__main__":
    run_example(run, __doc__)
