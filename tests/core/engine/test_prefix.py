"""The shared-prefix rerank path plans its document batches with a share of the per-pass cost."""

import random

from qwen3_vl_rag.core import EngineTuning, Qwen3VLReranker
from qwen3_vl_rag.core.engine.batches import token_budget_batches
from qwen3_vl_rag.core.engine.prefix import PREFIX_BATCH_COST_SHARE, common_prefix_length


def test_document_batches_use_the_prefix_share_of_the_pass_cost(tiny_vl_path):
    reranker = Qwen3VLReranker(str(tiny_vl_path), tuning=EngineTuning(batch_overhead_tokens=800))
    rng = random.Random(0)
    documents = [" ".join(["river"] * min(120, int(rng.paretovariate(1.2) * 3))) for _ in range(60)]
    query = "where does the river flow?"
    ids = [e.ids for e in reranker.encode([(query, d) for d in documents])]
    rests = [len(i) - common_prefix_length(ids) for i in ids]
    options, runner = reranker.options, reranker.runner

    def planned(cost: int) -> list[int]:
        batches = token_budget_batches(rests, options.max_batch_tokens, options.max_batch_size, batch_cost=cost,
                                       width=runner.width)
        return sorted(len(b) for b in batches)

    shared, full = planned(round(800 * PREFIX_BATCH_COST_SHARE)), planned(800)
    assert shared != full  # the share changes the plan of this corpus
    seen = []
    remove = reranker.on_batch(seen.append)
    try:
        reranker.score(query, documents)
    finally:
        remove()
    assert all(s.path == "prefix" for s in seen) and seen[0].rows == 1  # the prefix, then the documents
    assert sorted(s.rows for s in seen[1:]) == shared
