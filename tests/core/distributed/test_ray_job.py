"""embed_dataset on a real local Ray cluster (2 CPUs, loopback only, bounded restarts, a time limit).

One cluster serves the whole module. The tiny Qwen3-VL model runs in each actor. The killed actor is a
real process kill (SIGKILL from inside the actor, mid-job), which is what the OOM killer or a lost node
does; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qwen3_vl_rag.core.distributed import (
    EmbedBatch,
    JobMismatch,
    ModelSpec,
    embed_dataset,
    read_inputs,
    read_output,
    shard_path,
)

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported: loopback only
ray = pytest.importorskip("ray", reason="Ray is not installed (extra 'distributed', installed by 'dev')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (extra 'distributed')")
pytestmark = pytest.mark.xdist_group("ray")  # pytest -n: one local Ray cluster at a time
pa = pytest.importorskip("pyarrow")

JOB_LIMIT_S = 120  # a hung job (e.g. starved of CPUs) fails the test instead of blocking the suite


@contextlib.contextmanager
def time_limit(seconds: int):
    def _raise(signum, frame):
        raise TimeoutError(f"Ray job still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    from qwen3_vl_rag.core.distributed import start_local_ray

    if ray.is_initialized():
        ray.shutdown()
    # the test's own helpers (KillOnce, FileSink) travel by value: workers need not import the tests package
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    start_local_ray(num_cpus=2, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(corpus_dir, tiny_vl_path):
    """Every row embedded in one process by one EmbedBatch call."""
    out = EmbedBatch(str(tiny_vl_path)).embed_table(read_inputs(corpus_dir).table)
    return {r["id"]: r for r in out.to_pylist()}


@pytest.fixture(scope="module")
def two_actor_job(corpus_dir, tiny_vl_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray-out") / "vectors"
    with time_limit(JOB_LIMIT_S):
        report = embed_dataset(corpus_dir, out, model=str(tiny_vl_path), num_actors=2, shard_size=4,
                               max_restarts=1, max_task_retries=1, progress=False)
    return report, out


def _assert_matches_reference(table, reference, atol=1e-6):
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "an id was written twice"
    assert set(ids) == set(reference), "an id is missing"
    for row in table.to_pylist():
        expected = reference[row["id"]]
        assert row["error"] == expected["error"]
        if row["error"] is None:
            np.testing.assert_allclose(row["vector"], expected["vector"], atol=atol)


def test_two_actors_equal_one_process_every_id_once(two_actor_job, reference):
    report, out = two_actor_job
    assert report.mode == "ray" and (report.shards, report.shards_embedded, report.rows) == (6, 6, 21)
    _assert_matches_reference(read_output(out), reference)


def test_one_corrupt_image_is_one_dead_letter_row(two_actor_job, reference):
    report, out = two_actor_job
    table = read_output(out)
    errors = [r for r in table.to_pylist() if r["error"] is not None]
    assert report.errors == 1 and len(errors) == 1 and errors[0]["id"] == "images/broken.png"
    assert "corrupt image" in errors[0]["error"] and errors[0]["vector"] is None
    assert table.column("vector").null_count == 1 and table.num_rows == 21


def test_rerun_after_deleting_shards_redoes_only_those(two_actor_job, tiny_vl_path, corpus_dir, reference,
                                                      capsys):
    """The rerun goes through the command line (`--ray`), on the running cluster."""
    from qwen3_vl_rag.cli import main

    _, out = two_actor_job
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    deleted = [shard_path(out, 1), shard_path(out, 4)]
    for path in deleted:
        path.unlink()
    capsys.readouterr()
    with time_limit(JOB_LIMIT_S):
        assert main(["embed", str(corpus_dir), "--output", str(out), "--model", str(tiny_vl_path),
                     "--ray", "--shard-size", "4", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "ray"
    assert (report["shards_skipped"], report["shards_embedded"], report["rows"]) == (4, 2, 8)
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert set(after) == set(before)
    assert all(after[name] == before[name] for name in before if name not in {p.name for p in deleted})
    _assert_matches_reference(read_output(out), reference)
    with pytest.raises(JobMismatch, match="shard_size"):  # refused before any actor starts
        embed_dataset(corpus_dir, out, model=str(tiny_vl_path), shard_size=5, progress=False)
    with pytest.raises(JobMismatch, match="different precision"):  # so is another precision
        embed_dataset(corpus_dir, out, model=str(tiny_vl_path), shard_size=4, precision="binary", progress=False)


class KillOnce:
    """A model factory whose embedder kills its own process (SIGKILL) once, after at least one shard of the
    job has been written: an actor that dies mid-job. Every embedding process leaves its pid in ``log``."""

    def __init__(self, model: str, output: str, log: str):
        self.model, self.output, self.log = model, output, log

    def __call__(self):
        embedder = ModelSpec(self.model).build()
        original = embedder.embed
        log, output = Path(self.log), Path(self.output)

        def embed(items, *args, **kwargs):
            (log / f"pid-{os.getpid()}").touch()
            if any(output.glob("part-*.parquet")):
                try:
                    fd = os.open(log / "killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    pass
                else:
                    os.write(fd, f"{os.getpid()} {len(list(output.glob('part-*.parquet')))}".encode())
                    os.close(fd)
                    os.kill(os.getpid(), signal.SIGKILL)
            return original(items, *args, **kwargs)

        embedder.embed = embed
        return embedder


def test_killed_actor_is_replaced_and_output_has_no_duplicates(corpus_dir, tiny_vl_path, reference, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log"
    log.mkdir()
    with time_limit(JOB_LIMIT_S):
        report = embed_dataset(corpus_dir, out, model=KillOnce(str(tiny_vl_path), str(out), str(log)),
                               num_actors=1, shard_size=4, max_restarts=2, max_task_retries=2, progress=False)
    killed_pid, written_at_kill = map(int, (log / "killed").read_text().split())
    assert 1 <= written_at_kill < 6  # the kill happened mid-job
    pids = {int(p.name[4:]) for p in log.glob("pid-*")}
    assert killed_pid in pids and len(pids - {killed_pid}) == 1  # the only actor died: its replacement finished
    assert report.shards_embedded == 6 and report.rows == 21
    _assert_matches_reference(read_output(out), reference)


class FileSink:
    """A picklable sink that runs in the actors (like a vector-store loader): one parquet file per call."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, table) -> None:
        import uuid

        import pyarrow.parquet as pq

        pq.write_table(table, Path(self.folder, f"{uuid.uuid4().hex}.parquet"))


def test_ray_dataset_input_hash_shards_and_sink(tiny_vl_path, reference, corpus_dir, tmp_path):
    rows = read_inputs(corpus_dir).table
    dataset = ray.data.from_arrow(rows)
    sink_dir = tmp_path / "sink"
    sink_dir.mkdir()
    with time_limit(JOB_LIMIT_S):
        report = embed_dataset(dataset, tmp_path / "out", model=str(tiny_vl_path), num_actors=1, shard_size=8,
                               sink=FileSink(str(sink_dir)), max_restarts=1, max_task_retries=1, progress=False)
    assert report.shards == 3 and report.rows == 21
    _assert_matches_reference(read_output(tmp_path / "out"), reference)
    import pyarrow.parquet as pq

    sunk = pa.concat_tables([pq.read_table(p) for p in sorted(sink_dir.glob("*.parquet"))])
    _assert_matches_reference(sunk, reference)


def test_the_test_cluster_listens_on_loopback_only():
    (node,) = ray.nodes()
    assert node["NodeManagerAddress"] == "127.0.0.1" and node["Resources"]["CPU"] == 2
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


def test_actors_that_take_every_cpu_are_refused(corpus_dir, tiny_vl_path, tmp_path):
    started = time.perf_counter()
    with pytest.raises(ValueError, match="the job would hang"):
        embed_dataset(corpus_dir, tmp_path / "out", model=str(tiny_vl_path), num_actors=2, num_cpus=1,
                      progress=False)
    assert time.perf_counter() - started < 5


def test_precision_job_on_ray_stores_the_codes(corpus_dir, tiny_vl_path, reference, tmp_path):
    from qwen3_vl_rag.core.distributed import BadArgument
    from qwen3_vl_rag.core.precision import calibration_ranges, quantize

    with pytest.raises(BadArgument, match=r"shape \(2, 9\)"):  # the model's size from its config, before Ray work
        embed_dataset(corpus_dir, tmp_path / "bad", model=str(tiny_vl_path), precision="uint8",
                      ranges=calibration_ranges(np.eye(9)), progress=False)
    assert not (tmp_path / "bad").exists()
    with time_limit(JOB_LIMIT_S):
        embed_dataset(corpus_dir, tmp_path / "out", model=str(tiny_vl_path), num_actors=1, shard_size=21,
                      precision="ubinary", max_restarts=1, max_task_retries=1, progress=False)
    table = read_output(tmp_path / "out")
    assert table.schema.field("vector").type == pa.list_(pa.uint8(), -(-len(reference["texts/t00.txt"]["vector"]) // 8))
    for row in table.to_pylist():
        if row["error"] is None:
            expected = quantize(np.array([reference[row["id"]]["vector"]], dtype=np.float32), "ubinary")[0]
            assert row["vector"] == expected.tolist()
