"""examples/visual_document_rag.py end to end (subprocess): offline on tiny models and PDFs it generates, and on a
folder of the caller's PDFs; the HTML report holds one thumbnail, score, file and page per kept page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pypdfium2")

from qwen3_vl_rag.sample_pdfs import PageSpec, build_pdf  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "visual_document_rag.py"


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)


def test_tiny_run_on_a_folder_of_pdfs_writes_the_report(tmp_path):
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(build_pdf([PageSpec(lines=["alpha"]), PageSpec(lines=["beta"], table=(2, 2))]))
    (folder / "b.pdf").write_bytes(build_pdf([PageSpec(width=792, height=612, lines=["gamma"])]))
    done = _run("--tiny", "--pdfs", str(folder), "--top-k", "3", "--top-n", "3", "--query", "beta table",
                tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "WARNING: --tiny" in done.stderr
    assert done.stdout.splitlines()[0].startswith("indexed 3 pages from 2 PDFs")
    hits = re.findall(r"^\s+\d+\. (\S+)\s+(\S+)\s+(\S+\.pdf) page (\d+)$", done.stdout, re.MULTILINE)
    assert sorted((name, page) for *_, name, page in hits) == [("a.pdf", "1"), ("a.pdf", "2"), ("b.pdf", "1")]
    scores = [float(score) for score, *_ in hits]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    report = (tmp_path / "visual_document_rag.html").read_text()
    assert report.count('<img src="data:image/png;base64,') == 3 and "a.pdf</b>, page 2" in report
    assert "beta" in report  # the page's text layer


def test_without_weights_exits_with_one_sentence(tmp_path):
    done = _run("--pdfs", str(tmp_path), tmp_path=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("Could not load the embedding model 'Qwen/Qwen3-VL-Embedding-2B'")
