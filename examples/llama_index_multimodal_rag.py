"""Multimodal RAG with LlamaIndex: texts and images of examples/data in one index, retrieved and reranked.

    python examples/llama_index_multimodal_rag.py                  # Qwen3-VL-Embedding-2B, Qwen3-VL-Reranker-2B,
                                                                   # Qwen3-Embedding-0.6B (downloads once)
    python examples/llama_index_multimodal_rag.py --model DIR --reranker DIR --chunker-model DIR
    python examples/llama_index_multimodal_rag.py --tiny           # offline smoke run on random tiny models

IngestionPipeline([Qwen3SemanticSplitter, Qwen3VLEmbedding]) chunks the .txt files and embeds the chunks
and the .png images into one Qwen3VLVectorStoreIndex (a VectorStoreIndex whose retriever also finds text
nodes when the store is Qdrant, Chroma, ...); a text query retrieves from both, Qwen3VLRerank reorders.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _load import go_offline_without_network, load, tiny_models

DATA = Path(__file__).parent / "data"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


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

    documents = []
    for path in sorted(folder.iterdir()):
        metadata = {"file_name": path.name}
        if path.suffix.lower() in IMAGE_SUFFIXES:
            documents.append(ImageDocument(image_path=str(path), metadata=metadata))
        elif path.suffix.lower() == ".txt":
            documents.append(Document(text=path.read_text(encoding="utf-8"), metadata=metadata))
    return documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B", help="embedding model: hub id or directory")
    parser.add_argument("--reranker", default="Qwen/Qwen3-VL-Reranker-2B", help="reranker: hub id or directory")
    parser.add_argument("--chunker-model", default="Qwen/Qwen3-Embedding-0.6B",
                        help="text model for chunk boundaries: hub id or directory")
    parser.add_argument("--query", default="a mountain at sunrise", help="text query")
    parser.add_argument("--top-k", type=int, default=5, help="nodes retrieved from the index")
    parser.add_argument("--top-n", type=int, default=None, help="nodes kept after reranking (default: all)")
    parser.add_argument("--max-tokens", type=int, default=256, help="token bound per chunk (metadata included)")
    parser.add_argument("--dimensions", type=int, default=None, help="Matryoshka size of the vectors (default: full)")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of .txt and image files")
    parser.add_argument("--tiny", action="store_true", help="random tiny models: checks the plumbing only")
    args = parser.parse_args()

    if not args.tiny:
        go_offline_without_network([args.model, args.reranker, args.chunker_model])
    with tiny_models(args.tiny) as tiny:
        if tiny is not None:
            args.model = args.reranker = tiny[0]  # one tiny Qwen3-VL checkpoint embeds and reranks
            args.chunker_model = tiny[1]
        run(args)


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

    hits = index.as_retriever(similarity_top_k=args.top_k).retrieve(args.query)
    ranked = reranker.postprocess_nodes(hits, query_str=args.query)
    retrieval = {hit.node.node_id: hit.score for hit in hits}
    print(f"\nquery: {args.query!r}  (rerank score, retrieval score)")
    for rank, hit in enumerate(ranked, 1):
        node = hit.node
        if isinstance(node, ImageNode):
            label = f"[image] {node.metadata.get('file_name', node.image_path)}"
        else:
            snippet = " ".join(node.text.split())[:70]
            label = f"[text]  {node.metadata.get('file_name', '')}: {snippet}"
        print(f"{rank:2d}. {hit.score:.3f}  {retrieval[node.node_id]:.3f}  {label}")


if __name__ == "__main__":
    main()
