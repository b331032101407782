"""Multimodal RAG with the core classes alone: the texts of examples/data chunked, the chunks and images
embedded into one space, the nearest hits for each query reranked.

    python examples/quickstart.py --query "a mountain at sunrise" --top-k 5
    python examples/quickstart.py --model DIR --reranker DIR --chunker-model DIR
    python examples/quickstart.py --tiny               # offline smoke run on random tiny models

The same flags as examples/llama_index_multimodal_rag.py and examples/langchain_multimodal_rag.py (see
_load.py), without a framework: Qwen3TextEmbedder + SemanticChunker, Qwen3VLEmbedder, Qwen3VLReranker.
"""

from __future__ import annotations

import argparse

from _load import data_files, load, run_example


def run(args: argparse.Namespace) -> None:
    from qwen3_vl_rag.core import Qwen3TextEmbedder, Qwen3VLEmbedder, Qwen3VLReranker
    from qwen3_vl_rag.core.chunking import SemanticChunker, token_counter_from_tokenizer

    # Each model loads here: a missing one ends the run with one line saying why.
    embedder = load("embedding model", args.model, "--model",
                    lambda: Qwen3VLEmbedder(args.model, dimensions=args.dimensions))
    reranker = load("reranker", args.reranker, "--reranker", lambda: Qwen3VLReranker(args.reranker))
    text_model = load("chunking model", args.chunker_model, "--chunker-model",
                      lambda: Qwen3TextEmbedder(args.chunker_model))
    count_tokens = token_counter_from_tokenizer(text_model.tokenizer)
    chunker = SemanticChunker(text_model, count_tokens, max_tokens=args.max_tokens)

    text_files, image_files = data_files(args.data)
    labels, items = [], []
    for path in text_files:
        for chunk in chunker.split(path.read_text(encoding="utf-8")):
            labels.append(f"[text]  {path.name}@{chunk.start}: {' '.join(chunk.text.split())[:60]}")
            items.append(chunk.text)
    for path in image_files:
        labels.append(f"[image] {path.name}")
        items.append({"image": str(path)})
    vectors = embedder.embed_documents(items)
    print(f"embedded {len(items)} items ({len(items) - len(image_files)} text chunks, {len(image_files)} images) "
          f"from {args.data} ({vectors.shape[1]}-d vectors)")

    for query, row in zip(args.query, embedder.embed_queries(args.query) @ vectors.T):
        hits = row.argsort()[::-1][:args.top_k]
        ranked = reranker.rerank(query, [items[i] for i in hits], top_n=args.top_n)
        print(f"\nquery: {query!r}  (rerank score, retrieval score)")
        for rank, (position, score) in enumerate(ranked, 1):
            index = hits[position]
            print(f"{rank:2d}. {score:.3f}  {row[index]:.3f}  {labels[index]}")


if __name__ == "__main__":
    run_example(run, __doc__)
