"""Multimodal RAG with LangChain: text chunks and images in one vector store, retrieved and reranked.

The texts of examples/data are split with Qwen3SemanticChunker, the images embedded with
Qwen3VLEmbeddings.embed_image, all in one InMemoryVectorStore; a ContextualCompressionRetriever
reranks the candidates with Qwen3VLRerank (the reranker sees the images themselves).

    python examples/langchain_multimodal_rag.py                  # downloads the three models once
    python examples/langchain_multimodal_rag.py --model DIR --reranker DIR --chunker-model DIR
    python examples/langchain_multimodal_rag.py --tiny           # offline smoke run on random tiny models
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
QUERIES = ["a mountain at sunrise", "revenue growth by region", "how solar panels make electricity"]

try:
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_core.vectorstores import InMemoryVectorStore

    from qwen3_vl_rag.integrations.langchain import Qwen3SemanticChunker, Qwen3VLEmbeddings, Qwen3VLRerank
except ImportError as exc:
    sys.exit(f"This example needs LangChain ({exc.name} is missing): pip install 'qwen3-vl-rag[langchain]' "
             "langchain-classic")


def add_images(store: InMemoryVectorStore, embeddings: Qwen3VLEmbeddings, paths: list[Path],
               space: dict[str, str]) -> list[str]:
    """Add images with their ``embed_image`` vectors (InMemoryVectorStore embeds only texts itself).

    Each record has the shape ``InMemoryVectorStore.add_documents`` writes; ``image_path`` in the metadata
    is what Qwen3VLRerank reads to show the reranker the image.
    """
    vectors = embeddings.embed_image(uris=[str(p) for p in paths])
    ids = []
    for path, vector in zip(paths, vectors):
        doc_id = f"image:{path.name}"
        metadata = {"source": path.name, "modality": "image", "image_path": str(path), **space}
        store.store[doc_id] = {"id": doc_id, "vector": vector, "text": "", "metadata": metadata}
        ids.append(doc_id)
    return ids


def load_failure(what: str, name: str, flag: str) -> Callable[[OSError], None]:
    def fail(exc: OSError) -> None:
        sys.exit(f"Could not load the {what} '{name}' ({type(exc).__name__}): pass {flag} with a local directory, "
                 "allow downloads from the Hugging Face Hub, or use --tiny.")
    return fail


def step(run: Callable[[], Any], fail: Callable[[OSError], None]) -> Any:
    """Models load on first use: a missing model shows up as an OSError in the step that needs it."""
    try:
        return run()
    except OSError as exc:
        fail(exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B", help="embedding model: hub id or directory")
    parser.add_argument("--reranker", default="Qwen/Qwen3-VL-Reranker-2B", help="reranker: hub id or directory")
    parser.add_argument("--chunker-model", default="Qwen/Qwen3-Embedding-0.6B",
                        help="text embedding model that finds chunk boundaries: hub id or directory")
    parser.add_argument("--query", action="append", help="a query (repeatable); default: three sample queries")
    parser.add_argument("--max-tokens", type=int, default=64, help="largest chunk, in tokens")
    parser.add_argument("--k", type=int, default=6, help="candidates the vector store returns")
    parser.add_argument("--top-n", type=int, default=3, help="documents kept after reranking")
    parser.add_argument("--tiny", action="store_true", help="random tiny models: checks the plumbing only")
    args = parser.parse_args()

    if args.tiny:
        from qwen3_vl_rag.testing import build_tiny_text_model, build_tiny_vl_model

        root = Path(tempfile.mkdtemp(prefix="qwen3-vl-rag-tiny-"))
        args.model = args.reranker = str(build_tiny_vl_model(root / "vl"))  # embeds and reranks
        args.chunker_model = str(build_tiny_text_model(root / "text"))

    # Constructing loads nothing; each model loads when a step first needs it.
    chunker = Qwen3SemanticChunker(args.chunker_model, max_tokens=args.max_tokens, add_start_index=True)
    embeddings = Qwen3VLEmbeddings(model_name=args.model)
    compressor = Qwen3VLRerank(model_name=args.reranker, top_n=args.top_n)

    text_files = sorted(DATA.glob("*.txt"))
    image_files = sorted(DATA.glob("*.png"))
    # {"embedding_space": ...} on every stored document: the reranker refuses results mixing two models
    space = step(embeddings.space_metadata, load_failure("embedding model", args.model, "--model"))
    chunks = step(lambda: chunker.create_documents(
        [p.read_text(encoding="utf-8") for p in text_files],
        metadatas=[{"source": p.name, "modality": "text", **space} for p in text_files],
    ), load_failure("chunking model", args.chunker_model, "--chunker-model"))

    store = InMemoryVectorStore(embeddings)
    ids = [f"text:{c.metadata['source']}:{c.metadata['start_index']}" for c in chunks]
    step(lambda: store.add_documents(chunks, ids=ids), load_failure("embedding model", args.model, "--model"))
    add_images(store, embeddings, image_files, space)
    print(f"store: {len(chunks)} text chunks from {len(text_files)} files and {len(image_files)} images")

    retriever = ContextualCompressionRetriever(
        base_compressor=compressor, base_retriever=store.as_retriever(search_kwargs={"k": args.k})
    )
    for query in args.query or QUERIES:
        hits = step(lambda q=query: retriever.invoke(q), load_failure("reranker", args.reranker, "--reranker"))
        print(f"\n{query!r}")
        for doc in hits:
            meta = doc.metadata
            if meta["modality"] == "image":
                print(f"  {meta['relevance_score']:.3f}  image  {meta['source']}")
            else:
                snippet = " ".join(doc.page_content.split())[:70]
                print(f"  {meta['relevance_score']:.3f}  text   {meta['source']}@{meta['start_index']}  {snippet}")


if __name__ == "__main__":
    main()
