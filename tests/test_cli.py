"""The command line: `qwen3-vl-rag embed` in process (no Ray), resumable, and its Ray switches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from qwen3_vl_rag import __version__
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


def test_conflicting_switches_are_refused(small_corpus, tmp_path, capsys):
    line = _fails_cleanly(["embed", str(small_corpus), "-o", str(tmp_path / "o"), "--ray", "--device", "cpu"],
                          capsys, code=2)
    assert "--device applies in process only" in line
    line = _fails_cleanly(["embed", str(small_corpus), "-o", str(tmp_path / "o"), "--gpus", "2", "--workers", "3"],
                          capsys, code=2)
    assert "each worker takes one GPU" in line
    assert "--output" in _fails_cleanly(["embed", str(small_corpus)], capsys, code=2)  # --output is required


def test_missing_input_is_a_clean_error(tmp_path):
    with pytest.raises(SystemExit, match="input not found"):
        main(["embed", str(tmp_path / "absent"), "-o", str(tmp_path / "o"), "--model", "x"])


# -- every mistake: one line, non-zero exit, OUT as it was ---------------------------------------------------


def _snapshot(folder):
    """Every path under ``folder`` with its bytes: what "OUT as it was" compares."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _fails_cleanly(argv, capsys, code=None):
    """``main(argv)`` fails with one line on stderr (no traceback) and a non-zero exit; returns that line."""
    try:
        result = main(argv)
    except SystemExit as exc:
        result = exc.code
        if isinstance(result, str):
            print(result, file=sys.stderr)
            result = 1
    err = capsys.readouterr().err.strip()
    assert result not in (0, None), err
    if code is not None:
        assert result == code, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("switch, value", [
    ("--batch-size", "-1"), ("--batch-size", "0"), ("--shard-size", "0"), ("--shard-size", "-5"),
    ("--workers", "0"), ("--workers", "-2"), ("--gpus", "-1"), ("--dimensions", "0"), ("--dimensions", "-3"),
    ("--batch-size", "two"),
])
def test_numeric_switches_out_of_range_exit_2_before_any_work(switch, value, small_corpus, tmp_path, capsys):
    """Issue 23 item 1: `--batch-size -1` used to exit 0 with no vectors written."""
    out = tmp_path / "out"
    line = _fails_cleanly(["embed", str(small_corpus), "-o", str(out), "--model", str(tmp_path / "absent"),
                           switch, value], capsys, code=2)
    assert switch in line
    assert not out.exists()


def test_dimensions_above_the_model_size_exit_2_and_leave_no_job_record(small_corpus, tiny_vl_path, tmp_path,
                                                                        capsys):
    """Issue 23 items 1, 2, 16: `--dimensions 65` on a 64-d model left a _job.json that refused the fix."""
    out = tmp_path / "out"
    base = ["embed", str(small_corpus), "-o", str(out), "--model", str(tiny_vl_path), "-q"]
    line = _fails_cleanly([*base, "--dimensions", "65"], capsys, code=2)
    assert "--dimensions 65" in line and "64" in line
    assert not out.exists()
    out.mkdir()
    line = _fails_cleanly([*base, "--dimensions", "4096"], capsys, code=2)
    assert _snapshot(out) == {}
    assert main([*base, "--dimensions", "32"]) == 0  # the corrected command is not refused
    assert json.loads(capsys.readouterr().out)["rows"] == 9


def test_a_wrong_model_keeps_a_finished_job_even_with_overwrite(small_corpus, tiny_vl_path, tmp_path, capsys):
    """Issue 23 item 2: `--overwrite` deleted the finished shards before the (mistyped) model was loaded."""
    out = tmp_path / "out"
    assert main(["embed", str(small_corpus), "-o", str(out), "--model", str(tiny_vl_path), "-q",
                 "--shard-size", "4"]) == 0
    capsys.readouterr()
    before = _snapshot(out)
    for model in (str(tmp_path / "no-such-model"), str(small_corpus)):  # no directory; a directory, not a model
        line = _fails_cleanly(["embed", str(small_corpus), "-o", str(out), "--model", model, "-q",
                               "--shard-size", "3", "--overwrite"], capsys)
        assert model in line
        assert _snapshot(out) == before


def test_a_mistyped_hub_id_fails_fast_offline_in_one_line(small_corpus, tmp_path):
    """Issue 23 item 16: 31 s of retries, then 91 lines. HF_HUB_OFFLINE is unset: the machine has no route to
    the hub (the command probes it), as on a cluster node without internet."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["HF_HOME"] = str(tmp_path / "hf-home")  # an empty cache
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens: the same as no network, and never the internet
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "qwen3_vl_rag.cli", "embed", str(small_corpus), "-o",
                          str(tmp_path / "out"), "--model", "Qwen/Qwen3-VL-Embeding-2B", "-q"],
                         capture_output=True, text=True, timeout=300, env=env)
    elapsed = time.perf_counter() - started
    lines = run.stderr.splitlines()
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert "Qwen/Qwen3-VL-Embeding-2B" in lines[0] and "hf download" in lines[0]
    assert not (tmp_path / "out").exists()
    assert elapsed < 60  # the interpreter start dominates; the retries it replaces took 31 s on their own


def test_single_file_and_bad_manifests_are_one_line(small_corpus, tmp_path, capsys):
    """Issue 23 items 14 and 16: a single .txt input, repeated manifest ids and a jsonl column whose type changes
    (ArrowInvalid) gave tracebacks."""
    out = tmp_path / "out"
    line = _fails_cleanly(["embed", str(small_corpus / "doc0.txt"), "-o", str(out), "--model", "x"], capsys)
    assert "single file" in line and "glob" in line
    repeated = tmp_path / "repeated.jsonl"
    repeated.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    assert "repeated" in _fails_cleanly(["embed", str(repeated), "-o", str(out), "--model", "x"], capsys)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(f'{{"id": "{i}", "text": "x"}}\n' for i in range(3)) + '{"id": 7, "text": "y"}\n')
    assert "one type in every row" in _fails_cleanly(["embed", str(mixed), "-o", str(out), "--model", "x"],
                                                     capsys)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    _fails_cleanly(["embed", str(empty), "-o", str(out), "--model", "x"], capsys)
    assert not out.exists()


def test_version_and_tiny_try_the_command_offline(small_corpus, tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"qwen3-vl-rag {__version__}"
    scratch = tmp_path / "tmp"  # this test's own temporary folder: other tests (pytest -n) use the system one
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert main(["embed", str(small_corpus), "-o", str(tmp_path / "out"), "--tiny", "-q"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"] == 9 and "meaningless" in captured.err
    assert not list(scratch.glob("qwen3-vl-rag-tiny-*")), list(scratch.iterdir())  # the tiny model is gone
    _fails_cleanly(["embed", str(small_corpus), "-o", str(tmp_path / "o2"), "--tiny", "--model", "x"], capsys, 2)


def test_a_second_run_on_the_same_output_is_refused_while_the_first_lives(small_corpus, tiny_vl_path, tmp_path,
                                                                          capsys):
    from qwen3_vl_rag.core.distributed import JobOutput

    out = tmp_path / "out"
    first = JobOutput(out, {"rows": 0, "shard_size": 1, "num_shards": 0, "sharding": "position"})
    first.start()
    try:
        line = _fails_cleanly(["embed", str(small_corpus), "-o", str(out), "--model", str(tiny_vl_path)], capsys)
        assert "another run" in line and str(os.getpid()) in line
    finally:
        first.close(failed=True)
    assert main(["embed", str(small_corpus), "-o", str(out), "--model", str(tiny_vl_path), "-q"]) == 0
