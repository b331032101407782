"""Visual document RAG: a folder of PDFs -> a page index -> a question -> reranked pages -> an HTML report.

    python examples/visual_document_rag.py --pdfs DIR --query "Which quarter had the highest revenue?"
    python examples/visual_document_rag.py --model DIR --reranker DIR      # local model directories
    python examples/visual_document_rag.py --tiny                          # offline smoke run on random tiny models

Every page of every PDF is embedded as the picture of the page (text, tables, charts and layout together; no
OCR, no chunking) by Qwen3-VL-Embedding; a question retrieves the ``--top-k`` nearest pages, Qwen3-VL-Reranker
scores each page image against the question, and the report shows the best pages as thumbnails with their
scores, file and page number, and the page's text layer (what an LLM would be given next). Without ``--pdfs``
the script writes a few sample PDFs (reports with text, tables and charts) and indexes those.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import tempfile
from pathlib import Path

from _load import go_offline_without_network, load, tiny_models


def load_models(args):
    """Each model loads at construction: a missing one ends the run with one line saying why."""
    from qwen3_vl_rag.core import Qwen3VLEmbedder, Qwen3VLReranker

    embedder = load("embedding model", args.model, "--model",
                    lambda: Qwen3VLEmbedder(args.model, max_pixels=args.max_pixels))
    reranker = load("reranker", args.reranker, "--reranker",
                    lambda: Qwen3VLReranker(args.reranker, max_pixels=args.max_pixels))
    return embedder, reranker


def write_sample_pdfs(folder: Path) -> None:
    from qwen3_vl_rag.sample_pdfs import report_pdf

    folder.mkdir(parents=True, exist_ok=True)
    for seed, title in enumerate(["Annual report 2025", "Solar farm survey", "Product manual"]):
        (folder / f"{title.lower().replace(' ', '_')}.pdf").write_bytes(report_pdf(title, pages=4, seed=seed))


def page_index(embedder, folder: Path):
    """(the pages as {"pdf", "page"} items, their vectors): every page of every PDF in ``folder``, embedded in
    one call (pages are rendered batch by batch, at the model's size)."""
    from qwen3_vl_rag.core.documents import pdf_pages

    pages = [item for path in sorted(folder.glob("*.pdf")) for item in pdf_pages(path)]
    if not pages:
        raise SystemExit(f"no .pdf files in {folder}")
    return pages, embedder.embed_documents(pages)


def thumbnail(page: dict, width: int = 240) -> str:
    """The page as the model saw it, shrunk to ``width`` pixels, as a PNG data URI."""
    from qwen3_vl_rag.core.documents import render_page

    image = render_page(page["pdf"], page["page"], max_pixels=width * width * 2)
    image.thumbnail((width, width * 2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def write_report(path: Path, query: str, ranked: list[tuple[dict, float, float]]) -> None:
    from qwen3_vl_rag.core.documents import page_text

    cards = []
    for rank, (page, rerank_score, retrieval_score) in enumerate(ranked, 1):
        name = Path(page["pdf"]).name
        text = " ".join(page_text(page["pdf"], page["page"]).split())[:400]
        cards.append(
            f'<div class="card"><img src="{thumbnail(page)}" alt="{html.escape(name)} page {page["page"]}">'
            f'<div><b>{rank}. {html.escape(name)}</b>, page {page["page"]}<br>'
            f"rerank score {rerank_score:.3f} &middot; retrieval {retrieval_score:.3f}"
            f'<p class="text">{html.escape(text)}</p></div></div>')
    path.write_text(
        "<!doctype html><meta charset='utf-8'><title>Visual document RAG</title><style>"
        "body{font-family:sans-serif;margin:2em} .card{display:flex;gap:1em;margin:1em 0;padding:1em;"
        "border:1px solid #ccc} img{border:1px solid #888} .text{color:#555;font-size:90%}</style>"
        f"<h1>{html.escape(query)}</h1>" + "".join(cards), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B", help="embedding model: hub id or directory")
    parser.add_argument("--reranker", default="Qwen/Qwen3-VL-Reranker-2B", help="reranker: hub id or directory")
    parser.add_argument("--query", default="Which table lists the findings?", help="the question")
    parser.add_argument("--top-k", type=int, default=5, help="pages retrieved from the index")
    parser.add_argument("--top-n", type=int, default=3, help="pages kept after reranking (shown in the report)")
    parser.add_argument("--pdfs", type=Path, default=None, help="folder of .pdf files (default: sample PDFs)")
    parser.add_argument("--out", type=Path, default=Path("visual_document_rag.html"), help="the HTML report")
    parser.add_argument("--max-pixels", type=int, default=None,
                        help="pixels a page is rendered at (default: the official 1,843,200; --tiny: 65,536)")
    parser.add_argument("--tiny", action="store_true", help="random tiny models: checks the plumbing only")
    args = parser.parse_args()

    if not args.tiny:
        go_offline_without_network([args.model, args.reranker])
    if args.max_pixels is None:
        args.max_pixels = 64 * 32 * 32 if args.tiny else 1_843_200
    with tiny_models(args.tiny) as tiny, tempfile.TemporaryDirectory(prefix="qwen3-vl-rag-pdfs-") as samples:
        if tiny is not None:
            args.model = args.reranker = tiny[0]  # one tiny Qwen3-VL checkpoint embeds and reranks
        if args.pdfs is None:
            args.pdfs = Path(samples)
            write_sample_pdfs(args.pdfs)
        run(args)


def run(args: argparse.Namespace) -> None:
    import numpy as np

    embedder, reranker = load_models(args)
    pages, vectors = page_index(embedder, args.pdfs)
    print(f"indexed {len(pages)} pages from {len(set(str(p['pdf']) for p in pages))} PDFs in {args.pdfs} "
          f"({vectors.shape[1]}-d vectors)")
    query = embedder.embed_queries([args.query])[0]
    similarities = vectors @ query
    hits = [int(i) for i in np.argsort(-similarities)[: args.top_k]]
    reranked = reranker.rerank(args.query, [pages[i] for i in hits], top_n=args.top_n)
    ranked = [(pages[hits[position]], score, float(similarities[hits[position]])) for position, score in reranked]
    print(f"\nquery: {args.query!r}  (rerank score, retrieval score)")
    for rank, (page, score, retrieval) in enumerate(ranked, 1):
        print(f"{rank:2d}. {score:.3f}  {retrieval:.3f}  {Path(page['pdf']).name} page {page['page']}")
    write_report(args.out, args.query, ranked)
    print(f"\nreport: {args.out.resolve()}")


if __name__ == "__main__":
    main()
