"""SIGKILL at random points, then resume: every id exactly once, no unreadable file, nothing a resume misreads.

In process: the job runs in a child process that is killed with SIGKILL after a delay drawn from a seeded
RNG: during the model load, the job record's write, an embedding call, a shard's write or rename, whatever
the moment holds. Half the kills come at a random time from the start, half at a random time after the
child wrote a shard (so some land mid-write whatever the machine's speed). The children come from a fork
server that imported torch, transformers and the package once (and never ran them, so the children start
clean whatever this test process did before): a restart costs the job's own work, not an interpreter
start. With Ray: the real command (`qwen3-vl-rag embed --ray-address`) is the driver, on a local cluster;
it is killed at a seeded random moment after its actor wrote a shard (an actor start costs an interpreter
and torch, so fewer kills there). After every kill the output directory is checked file by file; then the
job is resumed to the end and its output compared with the input.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from qwen3_vl_rag.core.distributed import read_inputs, read_output

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported: loopback only
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ITEMS, SHARD_SIZE, BATCH_SIZE = 300, 6, 3
KILLS_IN_PROCESS, KILLS_RAY = 20, 1
SEED = 23


@pytest.fixture(scope="module")
def texts_dir(tmp_path_factory):
    """300 text files in 10 folders, two of them not UTF-8 inside (dead letters: they must be written too)."""
    root = tmp_path_factory.mktemp("kill-corpus")
    for i in range(ITEMS):
        folder = root / f"f{i % 10}"
        folder.mkdir(exist_ok=True)
        (folder / f"doc{i:03d}.txt").write_text(f"document {i}: the cat and the dog" + " river" * (i % 7))
    (root / "f0" / "doc000.txt").write_bytes(b"\xff\xfe not utf-8")
    (root / "f5" / "doc105.txt").write_bytes(b"\xc3\x28 torn")
    return root


def _in_process_job(source: str, out: str, model: str) -> None:
    import torch

    from qwen3_vl_rag.core.distributed import embed_local

    torch.set_num_threads(1)
    embed_local(source, out, model=model, shard_size=SHARD_SIZE, batch_size=BATCH_SIZE, progress=False)


PRELOAD = ["torch", "torchvision", "transformers", "transformers.models.qwen3_vl.modeling_qwen3_vl",
           "transformers.models.qwen3_vl.processing_qwen3_vl", "transformers.models.auto.processing_auto",
           "transformers.models.auto.modeling_auto", "transformers.image_processing_utils", "qwen_vl_utils",
           "pyarrow.parquet", "qwen3_vl_rag.core.distributed.local", "qwen3_vl_rag.core.models"]


def _run(target, args, kill_after: float | None, after_a_shard_in=None) -> bool:
    """Run ``target(*args)`` in a child; SIGKILL it ``kill_after`` s after its start (or after it wrote a new
    shard into ``after_a_shard_in``). True if it was killed."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # used when the server starts (the first child)
    child = context.Process(target=target, args=args)
    before = _count_parts(after_a_shard_in) if after_a_shard_in is not None else 0
    child.start()
    if after_a_shard_in is not None:
        deadline = time.monotonic() + 120
        while _count_parts(after_a_shard_in) <= before and child.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
    child.join(kill_after if kill_after is not None else 300)
    if child.is_alive():
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        return True
    assert child.exitcode == 0, f"the job failed (exit {child.exitcode})"
    return False


def _check_directory(out, shards: dict[int, list[str]]) -> int:
    """Every file is one a resume reads correctly: a complete shard holding exactly its ids, a valid job
    record, the lock, or a hidden temporary file the next run deletes. Returns the complete shards."""
    complete = 0
    for path in sorted(out.iterdir()) if out.exists() else ():
        name = path.name
        if name == "_job.json":
            assert json.loads(path.read_text())["num_shards"] == len(shards)
        elif name.startswith("part-"):
            table = pq.read_table(path)  # readable
            assert table.column("id").to_pylist() == shards[int(name[5:11])], name  # exactly its ids, in order
            complete += 1
        else:
            temporary = name.startswith((".part-", "._job.json.")) and name.endswith(".tmp")  # the next run deletes
            assert name == ".lock" or temporary, name
    return complete


def _noop() -> None:
    pass


def _shards(source) -> tuple[list[str], dict[int, list[str]]]:
    ids = read_inputs(source).table.column("id").to_pylist()
    return ids, {k: ids[k * SHARD_SIZE:(k + 1) * SHARD_SIZE] for k in range(-(-len(ids) // SHARD_SIZE))}


def _assert_every_id_once(out, ids, vl_embedder, source):
    table = read_output(out)
    written = table.column("id").to_pylist()
    assert sorted(written) == sorted(ids) and len(set(written)) == len(written) == ITEMS
    rows = {r["id"]: r for r in table.to_pylist()}
    assert {k for k, r in rows.items() if r["error"]} == {"f0/doc000.txt", "f5/doc105.txt"}
    for key in ("f1/doc001.txt", "f3/doc153.txt", "f9/doc299.txt"):
        expected = vl_embedder.embed([(source / key).read_text()])[0]
        np.testing.assert_allclose(rows[key]["vector"], expected, atol=1e-5)


def test_sigkill_in_process_at_random_points_then_resume(texts_dir, tiny_vl_path, vl_embedder, tmp_path):
    out, args = tmp_path / "out", (str(texts_dir), str(tmp_path / "out"), str(tiny_vl_path))
    ids, shards = _shards(texts_dir)
    rng = random.Random(SEED)
    killed, finished, progress = 0, 0, []
    _run(_noop, (), None)  # the fork server is up: the delays below time the job, not the server's start
    for _ in range(20 * KILLS_IN_PROCESS):  # bounded: a machine fast enough to finish every run still ends
        if killed == KILLS_IN_PROCESS:
            break
        after_a_shard = killed % 2 == 1
        if _run(_in_process_job, args, rng.uniform(0.0, 0.3) if after_a_shard else rng.uniform(0.05, 1.5),
                out if after_a_shard else None):
            killed += 1
            progress.append(_check_directory(out, shards))
        else:  # the job finished before its kill: check it, then start a new job so later kills land mid-job
            assert _check_directory(out, shards) == len(shards)
            _assert_every_id_once(out, ids, vl_embedder, texts_dir)
            shutil.rmtree(out)
            finished += 1
    assert killed == KILLS_IN_PROCESS, f"only {killed} kills landed in {killed + finished} runs"
    assert max(progress) > 0 and min(progress) < len(shards)  # kills landed before and during the job
    _run(_in_process_job, args, None)  # resume to the end
    assert _check_directory(out, shards) == len(shards)
    _assert_every_id_once(out, ids, vl_embedder, texts_dir)
    print(f"{killed} kills, {finished} runs finished before their kill; complete shards (of {len(shards)}) "
          f"after each kill: {progress}")


@pytest.mark.xdist_group("ray")  # pytest -n: one local Ray cluster at a time
def test_sigkill_of_the_ray_command_at_random_points_then_resume(texts_dir, tiny_vl_path, vl_embedder, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (extra 'distributed')")
    from qwen3_vl_rag.core.distributed import start_local_ray

    if ray.is_initialized():
        ray.shutdown()
    start_local_ray(num_cpus=2, log_to_driver=False)
    out = tmp_path / "out"
    ids, shards = _shards(texts_dir)
    rng = random.Random(SEED)
    progress = []
    try:
        command = [sys.executable, "-m", "qwen3_vl_rag.cli", "embed", str(texts_dir), "-o", str(out), "--model",
                   str(tiny_vl_path), "--ray-address", ray.get_runtime_context().gcs_address, "--shard-size",
                   str(SHARD_SIZE), "--batch-size", str(BATCH_SIZE), "-q"]
        for _ in range(KILLS_RAY):
            before = _check_directory(out, shards)
            driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 240
            while _count_parts(out) <= before and driver.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # the actor is up and writing
            time.sleep(rng.uniform(0.0, 1.0))
            driver.kill()  # SIGKILL
            driver.wait()
            progress.append(_check_directory(out, shards))
        final = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr[-2000:]
    finally:
        ray.shutdown()
    assert _check_directory(out, shards) == len(shards)
    _assert_every_id_once(out, ids, vl_embedder, texts_dir)
    print(f"{KILLS_RAY} driver kills; complete shards (of {len(shards)}) after each: {progress}")


def _count_parts(out) -> int:
    return len(list(out.glob("part-*.parquet"))) if out.exists() else 0
