"""Importing the package, the bulk-ingestion modules or the CLI never imports Ray (it is an optional extra)."""

from __future__ import annotations

import subprocess
import sys


def test_no_ray_at_import_time():
    script = ("import sys; import qwen3_vl_rag.core, qwen3_vl_rag.cli; "
              "from qwen3_vl_rag.core.distributed import batch, inputs, local, ray_job, shards; "
              "from qwen3_vl_rag.core.distributed import embed_dataset, EmbedBatch; "
              "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    core_only = "import sys; import qwen3_vl_rag.core; assert 'qwen3_vl_rag.core.distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", core_only], check=True, timeout=120)
