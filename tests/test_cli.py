"""The command line: `qwen3-vl-rag embed` in process (no Ray), resumable, and its Ray switches."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qwen3_vl_rag.cli import main

from .conftest import random_image

pa = pytest.importorskip("pyarrow", reason="bulk ingestion needs pyarrow (extra 'distributed')")


@pytest.fixture
def small_corpus(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    for i in range(5):
        (root / f"doc{i}.txt").write_text(f"document {i} about a cat", encoding="utf-8")
    for i in range(3):
        random_image(i).save(root / f"pic{i}.png")
    (root / "bad.jpg").write_bytes(b"no jpeg here")
    return root


def test_embed_in_process_writes_shards_and_resumes(small_corpus, tiny_vl_path, vl_embedder, tmp_path, capsys):
    from qwen3_vl_rag.core.distributed import read_output

    out = tmp_path / "out"
    argv = ["embed", str(small_corpus), "--output", str(out), "--model", str(tiny_vl_path), "--shard-size", "4",
            "--dimensions", "32", "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["mode"] == "in-process" and report["rows"] == 9 and report["errors"] == 1
    assert report["shards"] == 3 and "1 item(s) could not be embedded" in captured.err
    table = read_output(out)
    rows = {r["id"]: r for r in table.to_pylist()}
    assert len(rows) == table.num_rows == 9 and rows["bad.jpg"]["vector"] is None
    expected = vl_embedder.embed(["document 0 about a cat"], dimensions=32)[0]
    np.testing.assert_allclose(rows["doc0.txt"]["vector"], expected, atol=1e-6)
    (out / "part-000001.parquet").unlink()
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["shards_skipped"], again["shards_embedded"], again["rows"]) == (2, 1, 4)


def test_in_process_runs_without_ray_and_ray_switches_say_what_to_install(small_corpus, tiny_vl_path, tmp_path):
    block_ray = "import sys; sys.modules['ray'] = None; from qwen3_vl_rag.cli import main; "
    ok = subprocess.run([sys.executable, "-c", block_ray + "sys.exit(main(sys.argv[1:]))", "embed",
                         str(small_corpus), "-o", str(tmp_path / "a"), "--model", str(tiny_vl_path), "-q"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["rows"] == 9
    refused = subprocess.run([sys.executable, "-c", block_ray + "sys.exit(main(sys.argv[1:]))", "embed",
                              str(small_corpus), "-o", str(tmp_path / "b"), "--model", str(tiny_vl_path),
                              "--gpus", "2", "-q"], capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and 'pip install "qwen3-vl-rag[distributed]"' in refused.stderr
    assert "Traceback" not in refused.stderr


def test_conflicting_switches_are_refused(small_corpus, tmp_path):
    with pytest.raises(SystemExit, match="--device applies in process only"):
        main(["embed", str(small_corpus), "-o", str(tmp_path / "o"), "--ray", "--device", "cpu"])
    with pytest.raises(SystemExit, match="each worker takes one GPU"):
        main(["embed", str(small_corpus), "-o", str(tmp_path / "o"), "--gpus", "2", "--workers", "3"])
    with pytest.raises(SystemExit):
        main(["embed", str(small_corpus)])  # --output is required


def test_missing_input_is_a_clean_error(tmp_path):
    with pytest.raises(SystemExit, match="input not found"):
        main(["embed", str(tmp_path / "absent"), "-o", str(tmp_path / "o"), "--model", "x"])
