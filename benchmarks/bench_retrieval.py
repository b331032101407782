"""Store small, rescore large: recall, latency and bytes per item of two-stage Matryoshka retrieval.

Three vector sets:
- ``mrl``: synthetic MRL-like vectors (``--items`` x ``--dim``, default 5,000 x 2048): value i has standard
  deviation (i + 1) ** -decay (``--decay`` 0.3), so the leading dimensions carry most of the signal as in
  a Matryoshka-trained model; each query is a stored vector plus noise of the same shape (``--noise``).
- ``clustered``: ``--clusters`` random centres plus noise, every dimension alike (items of a few topics:
  the case binary quantisation is made for); ``--clusters 0`` skips it.
- ``model``: the package's own vectors: a random-weight bench Qwen3-VL (``--hidden`` dims, see the size
  flags) embeds ``--model-items`` texts as documents and ``--model-queries`` texts as queries. Random
  weights are NOT Matryoshka-trained, so this set shows the worst case; rerun with ``--model`` for real
  weights.

For each set and each candidate count (``--candidates``) the top ``--k`` of the two-stage search is
compared with exact float32 search on the full vectors (recall@k). Stages measured:
- ``coarse-only``: top k by the coarse prefix alone (no rescoring: what storing only 1024 dims gives);
- ``exact-coarse``: numpy, float32 coarse prefix, candidates rescored with float16 full vectors;
- ``qdrant-local``: ``TwoStageIndex`` end to end on qdrant-client's embedded mode (pure Python, exact,
  ignores quantisation and HNSW; its latency is not a server's);
- ``qdrant-edge <coarse>@<dims>``: the real Qdrant engine in process (``qdrant-edge-py``, in the ``dev``
  extra; skipped when absent), one prefetch + rescore query, float16 full vectors on disk, HNSW coarse
  stage (``--edge-stages``): ``float32`` (unquantised, in RAM), ``int8`` (scalar, the default layout),
  ``binary`` (1 bit per dim, the query in 8 bits: ``TwoStageIndex(quantization="binary")``) at the
  default coarse size and at every dimension, and ``binary-1bit-query`` (the query in 1 bit too). The
  quantised figures come from here: a numpy model of scalar quantisation (0.99-quantile clipping) was
  far more pessimistic than the engine (recall 0.56 vs 0.91 for the coarse top 10) and was dropped.
Bytes per item come from the index layout (``Layout.bytes_per_item``) against full float32 vectors alone.

    python benchmarks/bench_retrieval.py                         # all sets, default sizes
    python benchmarks/bench_retrieval.py --items 1000 --no-model
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

TARGET_RECALL = 0.99
TARGET_RAM_RATIO = 0.5


# -- vectors ------------------------------------------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def mrl_vectors(n: int, queries: int, dim: int, decay: float, noise: float, seed: int = 0):
    """Documents with per-dimension std (i+1)**-decay, and queries = a random document + shaped noise."""
    rng = np.random.default_rng(seed)
    scale = (np.arange(dim) + 1.0) ** (-decay)
    docs = _unit(rng.standard_normal((n, dim)).astype(np.float32) * scale)
    sources = rng.integers(0, n, queries)
    shaped = _unit(rng.standard_normal((queries, dim)).astype(np.float32) * scale)
    return docs, _unit(docs[sources] + noise * shaped)


def clustered_vectors(n: int, queries: int, dim: int, clusters: int, seed: int = 0):
    """Documents around ``clusters`` random centres (items of a few topics), queries = a document plus
    noise: the case binary quantisation is made for (no Matryoshka decay: every dimension counts alike)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    docs = _unit(centres[rng.integers(0, clusters, n)] + 0.8 * rng.standard_normal((n, dim)))
    return docs, _unit(docs[rng.integers(0, n, queries)] + 0.5 * rng.standard_normal((queries, dim)) / np.sqrt(dim))


def model_vectors(args):
    """(documents, queries, embedder) from the package's own embedder on a random bench model."""
    import random

    from qwen3_vl_rag.core import Qwen3VLEmbedder

    dtype, _ = C.start_run(args)
    embedder = Qwen3VLEmbedder(C.bench_model_path(args, "vl", args.model), device=args.device, torch_dtype=dtype)
    words = C.word_list(embedder.tokenizer)
    rng = random.Random(args.seed)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 24))) for _ in range(args.model_items)]
    queries = [" ".join(rng.sample(texts[rng.randrange(len(texts))].split(), 5)) for _ in range(args.model_queries)]
    return embedder.embed_documents(texts), embedder.embed_queries(queries), embedder


# -- stages ---------------------------------------------------------------------------------------------------


def recall(found: list[list[int]], exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def numpy_two_stage(docs, queries, coarse_dim, k, candidates):
    """(ids per query, per-query seconds): top ``candidates`` by coarse cosine, rescored in float16."""
    coarse_docs = _unit(docs[:, :coarse_dim])
    full16 = docs.astype(np.float16)
    out, seconds = [], []
    for q in queries:
        t = time.perf_counter()
        qc = q[:coarse_dim] / np.linalg.norm(q[:coarse_dim])
        scores = coarse_docs @ qc
        pool = np.argpartition(-scores, candidates - 1)[:candidates] if candidates < len(docs) else np.arange(len(docs))
        rescored = full16[pool].astype(np.float32) @ q
        out.append(pool[np.argsort(-rescored, kind="stable")[:k]].tolist())
        seconds.append(time.perf_counter() - t)
    return out, seconds


def exact_full(docs, queries, k):
    ids, seconds = [], []
    for q in queries:
        t = time.perf_counter()
        scores = docs @ q
        top = np.argpartition(-scores, k - 1)[:k]
        ids.append(top[np.argsort(-scores[top])].tolist())
        seconds.append(time.perf_counter() - t)
    return np.asarray(ids), seconds


class VectorsOnly:
    """Identity of a synthetic vector set, for ``TwoStageIndex.add_vectors`` / ``search_vector``."""

    def __init__(self, dim: int):
        from qwen3_vl_rag.core.identity import EmbeddingIdentity

        self.dimension = dim
        self.identity = EmbeddingIdentity("synthetic-mrl", dim)

    def embed_documents(self, items, dimensions=None):
        raise NotImplementedError("synthetic set: use add_vectors")

    embed_queries = embed_documents


def qdrant_local(docs, queries, embedder, coarse_dim, k, candidate_list):
    from qwen3_vl_rag.core.retrieval import TwoStageIndex

    index = TwoStageIndex(embedder, ":memory:", coarse_dimension=coarse_dim)
    index.add_vectors(docs, ids=list(range(len(docs))))
    results = {}
    for c in candidate_list:
        found, seconds = [], []
        for q in queries:
            t = time.perf_counter()
            hits = index.search_vector(q, k, candidates=c)
            seconds.append(time.perf_counter() - t)
            found.append([h.id for h in hits])
        results[c] = (found, seconds)
    index.close()
    return results, index.bytes_per_item()


def edge_quantization(E, quantization: str | None, query_encoding: str | None = None):
    """The qdrant-edge config of one coarse stage: ``TwoStageIndex``'s settings (see ``qdrant._create``)."""
    if quantization == "int8":
        return E.ScalarQuantizationConfig(E.ScalarType.Int8, 0.99, True)
    if quantization == "binary":
        encodings = {None: None, "scalar8bits": E.BinaryQuantizationQueryEncoding.Scalar8Bits}
        return E.BinaryQuantizationConfig(always_ram=True, encoding=E.BinaryQuantizationEncoding.OneBit,
                                          query_encoding=encodings[query_encoding])
    return None


def qdrant_edge(docs, queries, coarse_dim, k, candidate_list, hnsw_ef: int, quantization: str | None = "int8",
                query_encoding: str | None = None):
    """The real engine in process: HNSW (m=32, ef_construct=256) coarse stage, quantised as ``quantization``
    (``None``: float32 in RAM; ``"int8"``/``"binary"``: quantised in RAM, float16 originals on disk), float16
    full vectors on disk, one prefetch + rescore query."""
    try:
        import qdrant_edge as E
    except ImportError:
        return None
    coarse = _unit(docs[:, :coarse_dim])
    quantized = quantization is not None
    with tempfile.TemporaryDirectory() as folder:
        config = E.EdgeConfig(
            vectors={
                "coarse": E.EdgeVectorParams(
                    size=coarse_dim, distance=E.Distance.Cosine, on_disk=quantized,
                    datatype=E.VectorStorageDatatype.Float16 if quantized else E.VectorStorageDatatype.Float32,
                    quantization_config=edge_quantization(E, quantization, query_encoding),
                    hnsw_config=E.HnswIndexConfig(m=32, ef_construct=256, full_scan_threshold=1)),
                "full": E.EdgeVectorParams(
                    size=docs.shape[1], distance=E.Distance.Cosine, datatype=E.VectorStorageDatatype.Float16,
                    on_disk=True, hnsw_config=E.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=1)),
            },
            optimizers=E.EdgeOptimizersConfig(indexing_threshold=1, default_segment_number=1),
        )
        shard = E.EdgeShard.create(folder, config)
        t = time.perf_counter()
        for start in range(0, len(docs), 1000):
            shard.update(E.UpdateOperation.upsert_points([
                E.Point(i, {"coarse": coarse[i].tolist(), "full": docs[i].tolist()})
                for i in range(start, min(start + 1000, len(docs)))]))
        shard.optimize()
        build_s = time.perf_counter() - t
        results = {}
        for c in candidate_list:
            found, seconds = [], []
            for q in queries:
                qc = (q[:coarse_dim] / np.linalg.norm(q[:coarse_dim])).tolist()
                request = E.QueryRequest(
                    limit=k, query=E.Query.Nearest(q.tolist(), using="full"),
                    prefetches=[E.Prefetch(limit=c, query=E.Query.Nearest(qc, using="coarse"), params=E.SearchParams(
                        hnsw_ef=max(hnsw_ef, c), quantization=E.QuantizationSearchParams(rescore=False)))])
                t = time.perf_counter()
                points = shard.query(request)
                seconds.append(time.perf_counter() - t)
                found.append([int(p.id) for p in points])
            results[c] = (found, seconds)
        indexed = shard.info().indexed_vectors_count
        shard.close()
    return results, {"build_s": build_s, "indexed_vectors": indexed}


EDGE_STAGES = {  # name -> (quantization, query encoding, coarse dims: "default" or "full")
    "float32": (None, None, "default"),
    "int8": ("int8", None, "default"),
    "binary": ("binary", "scalar8bits", "default"),
    "binary-full": ("binary", "scalar8bits", "full"),
    "binary-1bit-query": ("binary", None, "default"),
}


def edge_stages(docs, queries, coarse_dim, k, candidate_list, args):
    """``{"qdrant-edge <kind>@<coarse dims>": (results, build info, Layout.bytes_per_item)}`` for the coarse
    stages of ``--edge-stages``; empty when qdrant-edge is not installed."""
    from qwen3_vl_rag.core.retrieval.layout import Layout

    out = {}
    for kind in args.edge_stages.split(","):
        quantization, query_encoding, dims = EDGE_STAGES[kind]
        dims = docs.shape[1] if dims == "full" else coarse_dim
        measured = qdrant_edge(docs, queries, dims, k, candidate_list, args.hnsw_ef, quantization, query_encoding)
        if measured is None:
            return {}
        layout = Layout(dims, docs.shape[1], quantization=quantization, coarse_on_disk=quantization is not None,
                        coarse_datatype="float16" if quantization else "float32")
        out[f"qdrant-edge {kind.replace('-full', '')}@{dims}"] = (*measured, layout.bytes_per_item())
    return out


# -- one set ---------------------------------------------------------------------------------------------------


def run_set(name, docs, queries, embedder, args, candidate_list):
    from qwen3_vl_rag.core.retrieval import candidate_count, default_coarse_dimension
    from qwen3_vl_rag.core.retrieval.layout import Layout

    dim = docs.shape[1]
    coarse_dim = args.coarse_dim or default_coarse_dimension(dim)
    k = min(args.k, len(docs))
    candidate_list = sorted({min(c, len(docs)) for c in candidate_list if c >= k})
    exact, exact_s = exact_full(docs, queries, k)
    float32_bytes = dim * 4
    layout = Layout(coarse_dim, dim)
    ram = layout.bytes_per_item()
    ram_full16 = Layout(coarse_dim, dim, full_on_disk=False).bytes_per_item()  # int8 coarse + float16 full in RAM
    unquantised = Layout(coarse_dim, dim, quantization=None, coarse_datatype="float32").bytes_per_item()
    rows = [{"set": name, "stage": "exact-full-float32", "candidates": "-", "recall": 1.0,
             "p50_ms": 1000 * statistics.median(exact_s), "ram_B": float32_bytes, "ram_ratio": 1.0,
             "disk_B": 0}]
    coarse_only, _ = numpy_two_stage(docs, queries, coarse_dim, k, k)
    rows.append({"set": name, "stage": "coarse-only", "candidates": k, "recall": recall(coarse_only, exact),
                 "p50_ms": float("nan"), "ram_B": coarse_dim * 4, "ram_ratio": coarse_dim / dim, "disk_B": 0})
    local, local_layout = (qdrant_local(docs, queries[:args.local_queries], embedder or VectorsOnly(dim), coarse_dim,
                                        k, candidate_list) if args.local_queries else ({}, None))
    edge = {} if args.no_edge else edge_stages(docs, queries, coarse_dim, k, candidate_list, args)
    for c in candidate_list:
        found, seconds = numpy_two_stage(docs, queries, coarse_dim, k, c)
        rows.append({"set": name, "stage": "exact-coarse", "candidates": c, "recall": recall(found, exact),
                     "p50_ms": 1000 * statistics.median(seconds), "ram_B": unquantised["ram"],
                     "ram_ratio": unquantised["ram"] / float32_bytes, "disk_B": unquantised["disk"]})
        if c in local:
            found, seconds = local[c]
            rows.append({"set": name, "stage": "qdrant-local", "candidates": c,
                         "recall": recall(found, exact[:len(found)]), "p50_ms": 1000 * statistics.median(seconds),
                         "ram_B": ram["ram"], "ram_ratio": ram["ram"] / float32_bytes, "disk_B": ram["disk"]})
        for stage, (results, _, sizes) in edge.items():
            found, seconds = results[c]
            rows.append({"set": name, "stage": stage, "candidates": c, "recall": recall(found, exact),
                         "p50_ms": 1000 * statistics.median(seconds), "ram_B": sizes["ram"],
                         "ram_ratio": sizes["ram"] / float32_bytes, "disk_B": sizes["disk"]})
    rule = candidate_count(k)
    at_rule = [r for r in rows if r["candidates"] == min(rule, len(docs)) and r["stage"] != "coarse-only"]
    summary = {
        "set": name, "items": len(docs), "queries": len(queries), "dim": dim, "coarse_dim": coarse_dim, "k": k,
        "rule_candidates": rule, "float32_bytes_per_item": float32_bytes, "layout": layout.to_dict(),
        "bytes_per_item": ram, "bytes_per_item_full_in_ram": ram_full16,
        "bytes_per_item_unquantised_coarse": unquantised, "qdrant_local_layout": local_layout,
        "edge": {stage: {**info, "bytes_per_item": sizes} for stage, (_, info, sizes) in edge.items()} or None,
        "recall_at_rule": {r["stage"]: r["recall"] for r in at_rule},
        "ram_ratio": ram["ram"] / float32_bytes,
    }
    return rows, summary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=5000, help="synthetic MRL-like vectors")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--decay", type=float, default=0.3, help="std of dimension i is (i+1)**-decay")
    p.add_argument("--noise", type=float, default=1.0, help="query = a stored vector + noise of this norm")
    p.add_argument("--clusters", type=int, default=50, help="a third set of clustered vectors (0: skip)")
    p.add_argument("--coarse-dim", type=int, default=None, help="default: 1024, or half of smaller vectors")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--candidates", default="10,20,50,100,200,500,1000")
    p.add_argument("--local-queries", type=int, default=50, help="queries through qdrant-client's local mode (0: skip)")
    p.add_argument("--hnsw-ef", type=int, default=128, help="qdrant-edge HNSW beam (raised to the candidate count)")
    p.add_argument("--no-edge", action="store_true", help="skip qdrant-edge even when installed")
    p.add_argument("--edge-stages", default=",".join(EDGE_STAGES), 
                   help=f"qdrant-edge coarse stages, of {list(EDGE_STAGES)}")
    p.add_argument("--no-model", action="store_true", help="skip the package's own vectors")
    p.add_argument("--model", default=None, help="embedding model path (default: random bench model)")
    p.add_argument("--model-items", type=int, default=2000)
    p.add_argument("--model-queries", type=int, default=100)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-cache", default=None)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/retrieval.json)")
    C.add_size_args(p)
    p.set_defaults(layers=2)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    candidate_list = [int(c) for c in args.candidates.split(",")]
    rows, summaries = [], []
    docs, queries = mrl_vectors(args.items, args.queries, args.dim, args.decay, args.noise, args.seed)
    set_rows, summary = run_set("mrl", docs, queries, None, args, candidate_list)
    rows += set_rows
    summaries.append(summary)
    if args.clusters:
        docs, queries = clustered_vectors(args.items, args.queries, args.dim, args.clusters, args.seed)
        set_rows, summary = run_set("clustered", docs, queries, None, args, candidate_list)
        rows += set_rows
        summaries.append(summary)
    if not args.no_model:
        docs, queries, embedder = model_vectors(args)
        set_rows, summary = run_set("model", docs, queries, embedder, args, candidate_list)
        rows += set_rows
        summaries.append(summary)
    mrl = summaries[0]
    recall_ok = {stage: value >= TARGET_RECALL for stage, value in mrl["recall_at_rule"].items()}
    table = C.print_table(
        rows, ["set", "stage", "candidates", "recall", "p50_ms", "ram_B", "ram_ratio", "disk_B"],
        title=f"bench_retrieval: recall@{mrl['k']} vs exact full-dimension float32 search; rule "
              f"{mrl['rule_candidates']} candidates; RAM/item {mrl['bytes_per_item']['ram']} B vs "
              f"{mrl['float32_bytes_per_item']} B float32 ({mrl['ram_ratio']:.1%}); targets: recall >= "
              f"{TARGET_RECALL} at <= {TARGET_RAM_RATIO:.0%} RAM")
    data = {
        "benchmark": "retrieval", "machine": C.machine_info(args.device or "cpu"), "rows": rows,
        "sets": summaries, "table": table, "args": vars(args),
        "targets": {"recall": TARGET_RECALL, "ram_ratio": TARGET_RAM_RATIO},
        "targets_met": {"ram_ratio": mrl["ram_ratio"] <= TARGET_RAM_RATIO,
                        **{f"recall_{stage}": ok for stage, ok in recall_ok.items()}},
        "bench_model_size": None if args.no_model or args.model else C.size_from_args(args).as_dict(),
    }
    C.write_json(data, args.out, "retrieval")
    return data


if __name__ == "__main__":
    main()
