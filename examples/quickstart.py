"""Embed the texts and images of examples/data in one vector space and rank them for a few queries.

    python examples/quickstart.py                      # Qwen/Qwen3-VL-Embedding-2B (downloads once)
    python examples/quickstart.py --model /path/to/Qwen3-VL-Embedding-2B
    python examples/quickstart.py --tiny               # offline smoke run on a random tiny model
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).parent / "data"
QUERIES = ["a mountain at sunrise", "revenue growth by region", "how solar panels make electricity"]


def load_embedder(args):
    from qwen3_vl_rag.core import Qwen3VLEmbedder

    if args.tiny:
        from qwen3_vl_rag.testing import build_tiny_vl_model

        return Qwen3VLEmbedder(str(build_tiny_vl_model(tempfile.mkdtemp())))
    try:
        return Qwen3VLEmbedder(args.model, dimensions=args.dimensions)
    except OSError as exc:
        sys.exit(f"Could not load '{args.model}' ({type(exc).__name__}): pass --model with a local "
                 "Qwen3-VL-Embedding directory, allow downloads from the Hugging Face Hub, or use --tiny.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B", help="hub id or local directory")
    parser.add_argument("--dimensions", type=int, default=None, help="Matryoshka size (e.g. 512)")
    parser.add_argument("--tiny", action="store_true", help="random tiny model: checks the plumbing only")
    args = parser.parse_args()

    embedder = load_embedder(args)
    files = sorted(DATA.iterdir())
    documents = [{"image": str(f)} if f.suffix == ".png" else f.read_text() for f in files]
    doc_vectors = embedder.embed_documents(documents)
    query_vectors = embedder.embed_queries(QUERIES)
    scores = query_vectors @ doc_vectors.T
    print(f"model: {embedder.model_name}  dimension: {doc_vectors.shape[1]}  device: {embedder.runtime.device}")
    for query, row in zip(QUERIES, scores):
        print(f"\n{query!r}")
        for index in row.argsort()[::-1][:3]:
            print(f"  {row[index]:.3f}  {files[index].name}")


if __name__ == "__main__":
    main()
