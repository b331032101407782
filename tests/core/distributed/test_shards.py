"""The job's output directory and record: fingerprint, lock, put-aside of a replaced job, repair after a kill."""

from __future__ import annotations

import json
import os

import pytest

from qwen3_vl_rag.core.distributed import JobError, JobMismatch, JobOutput, read_output
from qwen3_vl_rag.core.distributed.shards import JOB_FILE, REPLACED, REPLACING, RESTORING

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _record(rows=6, shard_size=3, **extra):
    return {"format": 2, "rows": rows, "shard_size": shard_size, "num_shards": -(-rows // shard_size),
            "sharding": "position", **extra}


def _part(out, shard, rows=3):
    pq.write_table(pa.table({"id": [f"{shard}-{i}" for i in range(rows)]}), out / f"part-{shard:06d}.parquet")


def _state(out):
    return {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_overwrite_puts_the_old_job_aside_until_the_new_one_has_a_shard(tmp_path):
    out = tmp_path / "out"
    old = JobOutput(out, _record(dimensions=None))
    old.start()
    _part(out, 0), _part(out, 1)
    old.close(failed=False)
    finished = _state(out)
    new = JobOutput(out, _record(dimensions=32))
    with pytest.raises(JobMismatch, match="dimensions"):
        new.check()
    replacing = JobOutput(out, _record(dimensions=32), overwrite=True)
    replacing.check()
    assert replacing.start() == set() and (out / REPLACED).is_dir()
    replacing.close(failed=True)  # failed before its first shard: the old job is back, byte for byte
    assert _state(out) == finished
    replacing = JobOutput(out, _record(dimensions=32), overwrite=True)
    replacing.start()
    _part(out, 1)
    replacing.shard_written()
    assert not (out / REPLACED).exists()
    replacing.close(failed=True)  # failed after a shard: the new job stays, resumable
    assert json.loads((out / JOB_FILE).read_text())["dimensions"] == 32
    assert JobOutput(out, _record(dimensions=32)).start() == {1}


@pytest.mark.parametrize("killed_at", ["putting aside", "before the first shard", "after the first shard",
                                       "restoring"])
def test_a_run_killed_anywhere_is_repaired_by_the_next(tmp_path, killed_at):
    """SIGKILL leaves whatever state the directory was in; each one is rebuilt from the files alone."""
    out = tmp_path / "out"
    old = JobOutput(out, _record(dimensions=None))
    old.start()
    _part(out, 0), _part(out, 1)
    old.close(failed=False)
    finished = _state(out)
    if killed_at == "putting aside":
        (out / REPLACING).mkdir()
        os.replace(out / "part-000000.parquet", out / REPLACING / "part-000000.parquet")
    else:
        killed = JobOutput(out, _record(dimensions=32), overwrite=True)
        killed.start()
        killed._unlock()  # the kernel drops the lock of a killed process
        if killed_at == "after the first shard":
            _part(out, 0)
        if killed_at == "restoring":
            (out / JOB_FILE).unlink()
            os.replace(out / REPLACED, out / RESTORING)
            os.replace(out / RESTORING / "part-000001.parquet", out / "part-000001.parquet")
    if killed_at == "after the first shard":  # the new job owns the directory: the old one is gone for good
        assert JobOutput(out, _record(dimensions=32)).start() == {0}
        assert not (out / REPLACED).exists()
    else:  # the new job wrote nothing: the old one is back and resumes as it was
        assert JobOutput(out, _record(dimensions=None)).start() == {0, 1}
        assert {k: v for k, v in _state(out).items() if k != ".lock"} == {
            k: v for k, v in finished.items() if k != ".lock"}


def test_unreadable_or_short_shards_are_redone_and_read_output_names_them(tmp_path):
    out = tmp_path / "out"
    job = JobOutput(out, _record(rows=8))
    job.start()
    _part(out, 0), _part(out, 1, rows=2), _part(out, 2, rows=2)  # shard 1 should have 3 rows
    job.close(failed=False)
    data = (out / "part-000000.parquet").read_bytes()
    (out / "part-000000.parquet").write_bytes(data[: len(data) // 2])  # truncated by hand
    (out / "part-000099.parquet.bak").write_bytes(b"a user's file")
    with pytest.raises(JobError, match="part-000000.parquet' is unreadable"):
        read_output(out)
    again = JobOutput(out, _record(rows=8))
    assert again.start() == {2}
    assert sorted(again.repaired) == ["part-000000.parquet", "part-000001.parquet"]
    assert (out / "part-000099.parquet.bak").exists()


def test_output_that_is_a_file_or_has_foreign_parts(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(JobError, match="is a file"):
        JobOutput(tmp_path / "file", _record()).check()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    _part(foreign, 0)
    with pytest.raises(JobMismatch, match="no _job.json"):
        JobOutput(foreign, _record()).check()
    (foreign / JOB_FILE).write_text("{torn")
    with pytest.raises(JobMismatch, match="another job"):
        JobOutput(foreign, _record()).check()


def test_a_failed_first_run_leaves_no_trace(tmp_path):
    out = tmp_path / "new" / "out"
    job = JobOutput(out, _record())
    job.start()
    job.close(failed=True)
    assert not out.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    job = JobOutput(existing, _record())
    job.start()
    job.close(failed=True)
    assert list(existing.iterdir()) == []
