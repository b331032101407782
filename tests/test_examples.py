"""The three examples as one family: the same flags and defaults, one sentence when the hub is unreachable,
and nothing left behind by a --tiny run (each example's own end-to-end tests live beside its framework's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = ["quickstart.py", "llama_index_multimodal_rag.py", "langchain_multimodal_rag.py"]


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false", **(env or {})}, timeout=300)


def test_examples_take_the_same_flags_with_the_same_defaults():
    helps = {script: _run(script, "--help").stdout for script in SCRIPTS}
    options = {script: " ".join(text[text.index("options:"):].split()) for script, text in helps.items()}
    first = options[SCRIPTS[0]]
    assert set(re.findall(r"--[a-z-]+", first)) >= {"--query", "--top-k", "--top-n", "--model", "--reranker",
                                                    "--chunker-model", "--max-tokens", "--dimensions", "--tiny"}
    assert "(default: 5)" in first and "(default: 256)" in first and "(default: Qwen/Qwen3-VL-Embedding-2B)" in first
    assert all(text == first for text in options.values()), options


@pytest.mark.parametrize("script", SCRIPTS)
def test_unreachable_hub_fails_at_once_in_one_sentence(script, tmp_path):
    """No HF_HUB_OFFLINE, an empty cache and a hub that refuses connections: the example notices before
    loading and says in one line that the model is not cached, instead of retrying the hub."""
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": ""}
    done = _run(script, env=env)
    assert done.returncode != 0
    message = done.stderr.strip()
    assert "Traceback" not in done.stderr and len(message.splitlines()) == 1, done.stderr
    assert message.startswith("Could not load the embedding model 'Qwen/Qwen3-VL-Embedding-2B'")
    assert "not in the local Hugging Face cache" in message and "--tiny" in message


def test_quickstart_tiny_run_ranks_texts_and_images_and_cleans_up(tmp_path):
    done = _run("quickstart.py", "--tiny", "--top-k", "50", "--query", "solar panels",
                env={"HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "WARNING: --tiny" in done.stderr
    assert re.search(r"embedded \d+ items \(\d+ text chunks, 3 images\)", done.stdout)
    hits = [line for line in done.stdout.splitlines() if re.match(r" *\d+\. ", line)]
    assert sum("[image]" in h for h in hits) == 3 and any("solar_energy.txt" in h for h in hits)
    scores = [float(h.split()[1]) for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("torchinductor")] == []  # torch's cache
