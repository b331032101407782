"""Multimodal RAG with LlamaIndex: texts and images of examples/data in one index, retrieved and reranked.

    python examples/llama_index_multimodal_rag.py                  # Qwen3-VL-Embedding-2B, Qwen3-VL-Reranker-2B,
                                                                   # Qwen3-Embedding-0.6B (downloads once)
    python examples/llama_index_multimodal_rag.py --model DIR --reranker DIR --chunker-model DIR
    python examples/llama_index_multimodal_rag.py --tiny           # offline smoke run on random tiny models

IngestionPipeline([Qwen3SemanticSplitter, Qwen3VLEmbedding]) chunks the .txt files and embeds the chunks
and the .png images into one VectorStoreIndex; a text query retrieves from both, Qwen3VLRerank reorders.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).parent / "data"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def load(kind: str, build, source: str):
    """Build one model; a model that cannot be loaded ends the run with one sentence."""
    try:
        return build()
    except OSError as exc:
        sys.exit(f"Could not load the {kind} '{source}' ({type(exc).__name__}): pass a local directory, allow "
                 "downloads from the Hugging Face Hub, or use --tiny.")


def load_models(args):
    from qwen3_vl_rag.integrations.llama_index import Qwen3SemanticSplitter, Qwen3VLEmbedding, Qwen3VLRerank

    if args.tiny:
        from qwen3_vl_rag.testing import build_tiny_text_model, build_tiny_vl_model

        args.model = args.reranker = str(build_tiny_vl_model(tempfile.mkdtemp()))
        args.chunker_model = str(build_tiny_text_model(tempfile.mkdtemp()))
    embed_model = load("embedding model", lambda: Qwen3VLEmbedding(args.model), args.model)
    reranker = load("reranker", lambda: Qwen3VLRerank(args.reranker, top_n=args.top_n), args.reranker)
    splitter = load("chunking model", lambda: Qwen3SemanticSplitter(args.chunker_model, max_tokens=args.max_tokens),
                    args.chunker_model)
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
    parser.add_argument("--data", type=Path, default=DATA, help="folder of .txt and image files")
    parser.add_argument("--tiny", action="store_true", help="random tiny models: checks the plumbing only")
    args = parser.parse_args()

    from llama_index.core import Settings, VectorStoreIndex
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.schema import ImageNode

    splitter, embed_model, reranker = load_models(args)
    Settings.embed_model = embed_model  # never fall back to LlamaIndex's OpenAI default

    nodes = IngestionPipeline(transformations=[splitter, embed_model]).run(documents=read_documents(args.data))
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    images = sum(isinstance(n, ImageNode) for n in nodes)
    print(f"indexed {len(nodes)} nodes ({len(nodes) - images} text chunks, {images} images) from {args.data}")
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
