"""examples/langchain_multimodal_rag.py end to end (subprocess): offline on tiny models, and without weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "langchain_multimodal_rag.py"


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),  # an empty cache: no weights
           "TMPDIR": str(tmp_path / "tmp")}
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_tiny_run_prints_text_and_image_hits_and_is_loud(tmp_path):
    # top-k covers the whole store (top-n: all retrieved): with random weights the order means nothing.
    done = _run("--tiny", "--top-k", "50", "--query", "a mountain at sunrise", "--dimensions", "8",
                tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "WARNING: --tiny" in done.stderr and "(8-d vectors)" in done.stdout
    leftovers = [p.name for p in (tmp_path / "tmp").iterdir() if not p.name.startswith("torchinductor")]  # torch cache
    assert leftovers == []  # the tiny models' temporary folder is removed
    lines = done.stdout.splitlines()
    assert lines[0].startswith("store: ") and "from 3 files and 3 images" in lines[0]
    hits = [line.split() for line in lines if line.startswith("  ")]
    kinds = [h[1] for h in hits]
    assert kinds.count("image") == 3 and kinds.count("text") >= 3
    assert {h[2] for h in hits if h[1] == "image"} == {"bar_chart.png", "mountain_sun.png", "night_sea.png"}
    scores = [float(h[0]) for h in hits]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)


def test_without_weights_exits_with_one_sentence_saying_how_to_fix_it(tmp_path):
    done = _run(tmp_path=tmp_path)  # the released models by hub id, offline, with an empty cache
    assert done.returncode != 0
    message = done.stderr.strip()
    assert "Traceback" not in done.stderr and len(message.splitlines()) == 1
    assert message.startswith("Could not load the embedding model 'Qwen/Qwen3-VL-Embedding-2B'") and "--tiny" in message
    assert "not in the local Hugging Face cache" in message and "hf download" in message
