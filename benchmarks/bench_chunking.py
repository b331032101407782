"""Scaling benchmark for ``SemanticChunker``: is chunking linear in the text length?

Generates a deterministic synthetic document of N sentences and one of 10N sentences (topic
shifts, paragraph breaks, some Chinese), chunks both with a cheap deterministic embedder
(hashed bag of words, numpy) and a whitespace token counter, and reports wall time (best of
``--repeats``) and peak traced memory (``tracemalloc``, separate run).  Target: the 10x text
takes at most 12x the time.

    python benchmarks/bench_chunking.py --sentences 2000 --out benchmarks/results/chunking.json
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000, help="N: sentences in the small document")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size (best is reported)")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/chunking.json"))
    args = parser.parse_args(argv)

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
