"""Smoke test of benchmarks/bench_pages.py (the test_benchmarks_smoke.py way): main() runs on a tiny model and a
few small pages and reports every field. No timing assertions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("pypdfium2")

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

from .test_benchmarks_smoke import TINY  # noqa: E402


def test_bench_pages(tmp_path):
    import bench_pages

    out = tmp_path / "pages.json"
    data = bench_pages.main([*TINY, "--pages", "3", "--repeats", "1", "--max-pixels", "65536", "--memory", "4",
                             "--model-cache", str(tmp_path / "models"), "--out", str(out)])
    assert json.loads(out.read_text())["table"]
    assert data["renderers"][0]["renderer"].startswith("qwen3-vl-rag") and data["renderers"][0]["pages_per_s"] > 0
    if bench_pages.poppler_available():
        assert data["renderers"][1]["renderer"].startswith("pdf2image") and data["renderers"][1]["pages_per_s"] > 0
    share = data["embed_call"]
    assert share["pages"] == 3 and share["embed_wall_s"] > 0 and 0 < share["render_share"]
    assert isinstance(data["render_share_target_met"], bool)
    assert [c["case"] for c in data["memory"]] == ["pdf", "images"]
    for case in data["memory"]:
        assert case["n"] == 4 and case["peak_rss_bytes"] >= case["rss_before_bytes"] > 0 and case["output_bytes"] > 0
    assert isinstance(data["memory_target_met"], bool)
