"""Multimodal RAG with LangChain: text chunks and images in one vector store, retrieved and reranked.

The texts of examples/data are split with Qwen3SemanticChunker and stored with add_documents, the images
with add_images (any LangChain VectorStore; here InMemoryVectorStore), all in one space; a
ContextualCompressionRetriever reranks the candidates with Qwen3VLRerank (the reranker sees the images).

    python examples/langchain_multimodal_rag.py                  # downloads the three models once
    python examples/langchain_multimodal_rag.py --model DIR --reranker DIR --chunker-model DIR
    python examples/langchain_multimodal_rag.py --tiny           # offline smoke run on random tiny models
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _load import go_offline_without_network, load, tiny_models

DATA = Path(__file__).parent / "data"
QUERIES = ["a mountain at sunrise", "revenue growth by region", "how solar panels make electricity"]


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
        sys.exit(f"This example needs LangChain ({exc.name} is missing): pip install 'qwen3-vl-rag[langchain]' "
                 "langchain-classic")

    # Each model loads here (at construction): a missing one ends the run with one line saying why.
    embeddings = load("embedding model", args.model, "--model",
                      lambda: Qwen3VLEmbeddings(model_name=args.model, dimensions=args.dimensions))
    compressor = load("reranker", args.reranker, "--reranker",
                      lambda: Qwen3VLRerank(model_name=args.reranker, top_n=args.top_n))
    chunker = load("chunking model", args.chunker_model, "--chunker-model", lambda: Qwen3SemanticChunker(
        args.chunker_model, max_tokens=args.max_tokens, add_start_index=True))

    text_files = sorted(DATA.glob("*.txt"))
    image_files = sorted(DATA.glob("*.png"))
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
        base_compressor=compressor, base_retriever=store.as_retriever(search_kwargs={"k": args.k})
    )
    for query in args.query or QUERIES:
        print(f"\n{query!r}")
        for doc in retriever.invoke(query):
            meta = doc.metadata
            if meta["modality"] == "image":
                print(f"  {meta['relevance_score']:.3f}  image  {meta['source']}")
            else:
                snippet = " ".join(doc.page_content.split())[:70]
                print(f"  {meta['relevance_score']:.3f}  text   {meta['source']}@{meta['start_index']}  {snippet}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B", help="embedding model: hub id or directory")
    parser.add_argument("--reranker", default="Qwen/Qwen3-VL-Reranker-2B", help="reranker: hub id or directory")
    parser.add_argument("--chunker-model", default="Qwen/Qwen3-Embedding-0.6B",
                        help="text embedding model that finds chunk boundaries: hub id or directory")
    parser.add_argument("--query", action="append", help="a query (repeatable); default: three sample queries")
    parser.add_argument("--max-tokens", type=int, default=64, help="largest chunk, in tokens")
    parser.add_argument("--dimensions", type=int, default=None, help="Matryoshka size of the vectors (default: full)")
    parser.add_argument("--k", type=int, default=6, help="candidates the vector store returns")
    parser.add_argument("--top-n", type=int, default=3, help="documents kept after reranking")
    parser.add_argument("--tiny", action="store_true", help="random tiny models: checks the plumbing only")
    args = parser.parse_args()

    if not args.tiny:
        go_offline_without_network([args.model, args.reranker, args.chunker_model])
    with tiny_models(args.tiny) as tiny:
        if tiny is not None:
            args.model = args.reranker = tiny[0]  # one tiny Qwen3-VL checkpoint embeds and reranks
            args.chunker_model = tiny[1]
        run(args)


if __name__ == "__main__":
    main()
