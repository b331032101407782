"""embed_local: the sharded, resumable job in process (what the CLI runs without Ray)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from qwen3_vl_rag.core.distributed import EmbedBatch, JobMismatch, embed_local, read_inputs, read_output, shard_path

pa = pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def reference(corpus_dir, tiny_vl_path):
    """Every row embedded by one EmbedBatch call: the vectors any job must reproduce."""
    out = EmbedBatch(str(tiny_vl_path)).embed_table(read_inputs(corpus_dir).table)
    return {r["id"]: r for r in out.to_pylist()}


def _by_id(table) -> dict:
    return {r["id"]: r for r in table.to_pylist()}


def test_job_writes_every_id_once_with_dead_letters(corpus_dir, tiny_vl_path, reference, tmp_path):
    report = embed_local(corpus_dir, tmp_path / "out", model=str(tiny_vl_path), shard_size=6, progress=False)
    assert (report.shards, report.shards_embedded, report.rows, report.errors) == (4, 4, 21, 1)
    table = read_output(tmp_path / "out")
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 21 and set(ids) == set(reference)
    rows = _by_id(table)
    assert "broken.png is a corrupt image" in rows["images/broken.png"]["error"]
    for key, row in rows.items():
        if row["error"] is None:
            np.testing.assert_allclose(row["vector"], reference[key]["vector"], atol=1e-6)


def test_rerun_redoes_only_deleted_shards_and_refuses_another_job(corpus_dir, tiny_vl_path, tmp_path):
    out = tmp_path / "out"
    embed_local(corpus_dir, out, model=str(tiny_vl_path), shard_size=6, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    os.remove(shard_path(out, 1))
    stale = out / ".part-000001.parquet.0123.tmp"  # a worker killed while writing leaves its temporary file
    stale.write_bytes(b"half a parquet file")
    again = embed_local(corpus_dir, out, model=str(tiny_vl_path), shard_size=6, progress=False)
    assert (again.shards_skipped, again.shards_embedded, again.rows) == (3, 1, 6)
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert set(after) == set(before) and not stale.exists()
    assert all(after[n] == before[n] for n in before if n != shard_path(out, 1).name)  # untouched
    assert read_output(out).num_rows == 21
    os.remove(shard_path(out, 2))  # finishing on another device (or on Ray) is the same job
    resumed = embed_local(corpus_dir, out, model=str(tiny_vl_path), shard_size=6, device="cpu", progress=False)
    assert (resumed.shards_skipped, resumed.shards_embedded) == (3, 1)
    with pytest.raises(JobMismatch, match="dimensions"):
        embed_local(corpus_dir, out, model=str(tiny_vl_path), shard_size=6, dimensions=32, progress=False)
    fresh = embed_local(corpus_dir, out, model=str(tiny_vl_path), shard_size=6, dimensions=32, overwrite=True,
                        progress=False)
    assert fresh.shards_embedded == 4 and read_output(out).schema.field("vector").type.list_size == 32


def test_changed_input_is_refused(corpus_dir, tiny_vl_path, tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n')
    embed_local(manifest, tmp_path / "out", model=str(tiny_vl_path), progress=False)
    manifest.write_text('{"id": "a", "text": "x"}\n{"id": "c", "text": "y"}\n')
    with pytest.raises(JobMismatch, match="input_fingerprint"):
        embed_local(manifest, tmp_path / "out", model=str(tiny_vl_path), progress=False)


def test_sink_gets_every_shard_without_output(corpus_dir, tiny_vl_path):
    received = []
    report = embed_local(corpus_dir, None, model=str(tiny_vl_path), shard_size=8, sink=received.append,
                         progress=False)
    assert report.shards_embedded == 3 and [t.num_rows for t in received] == [8, 8, 5]
    assert sum(t.column("error").null_count for t in received) == 20
    with pytest.raises(ValueError, match="output directory, a sink"):
        embed_local(corpus_dir, None, model=str(tiny_vl_path), progress=False)


def test_a_file_name_that_is_not_utf8_fails_one_row_not_the_job(tmp_path, tiny_vl_path):
    """Issue 23 item 3: the whole job failed with a pyarrow UnicodeEncodeError."""
    root = tmp_path / "in"
    root.mkdir()
    (root / "good.txt").write_text("a cat")
    with open(os.fsencode(str(root)) + b"/bad-\xff.txt", "w") as file:
        file.write("a dog")
    report = embed_local(root, tmp_path / "out", model=str(tiny_vl_path), progress=False)
    assert (report.rows, report.errors) == (2, 1)
    rows = _by_id(read_output(tmp_path / "out"))
    assert rows["good.txt"]["error"] is None and "not valid UTF-8" in rows["bad-\\xff.txt"]["error"]


@pytest.mark.parametrize("arguments", [{"batch_size": -1}, {"batch_size": 0}, {"shard_size": 0},
                                       {"shard_size": -3}, {"dimensions": 0}, {"batch_size": 2.5}])
def test_numbers_out_of_range_are_refused_before_anything_is_written(corpus_dir, tiny_vl_path, tmp_path, arguments):
    """Issue 23 item 1: batch_size=-1 reported every row embedded and wrote no vectors (range(0, n, -1))."""
    with pytest.raises(ValueError, match=next(iter(arguments))):
        embed_local(corpus_dir, tmp_path / "out", model=str(tiny_vl_path), progress=False, **arguments)
    assert not (tmp_path / "out").exists()


def test_a_worker_never_writes_into_a_directory_another_job_took_over(corpus_dir, tiny_vl_path, tmp_path):
    """A worker of a killed run (a Ray actor not yet reaped) cannot drop its shard into the next job's output."""
    from qwen3_vl_rag.core.distributed.shards import JOB_FILE, ShardWorker, position_shards

    out = tmp_path / "out"
    out.mkdir()
    (out / JOB_FILE).write_text('{"format": 2, "dimensions": 32}')
    worker = ShardWorker(EmbedBatch(str(tiny_vl_path)), str(out), record={"format": 2, "dimensions": None})
    (shard,) = position_shards(read_inputs(corpus_dir).table.slice(0, 2), 2)
    with pytest.raises(RuntimeError, match="another job"):
        worker(shard)
    assert sorted(p.name for p in out.iterdir()) == [JOB_FILE]


def test_fingerprint_is_unambiguous_and_covers_content(tmp_path):
    """Issue 23 item 15: ids joined with NUL collided, and only the ids were fingerprinted."""
    from qwen3_vl_rag.core.distributed.shards import fingerprint

    assert fingerprint(pa.table({"id": ["a\0b", "c"]})) != fingerprint(pa.table({"id": ["a", "b\0c"]}))
    assert fingerprint(pa.table({"id": ["a", "b"], "text": ["x", "y"]})) != fingerprint(
        pa.table({"id": ["a", "b"], "text": ["x", "z"]}))  # same ids, another text
    assert fingerprint(pa.table({"id": ["1"]})) != fingerprint(pa.table({"id": ["1"], "text": [None]}))
    file = tmp_path / "a.txt"
    file.write_text("one")
    table = pa.table({"id": ["a"], "text_file": [str(file)]})
    before = fingerprint(table)
    assert fingerprint(table) == before  # stable
    file.write_text("longer content")
    assert fingerprint(table) != before  # size (and modification time) changed


def test_changed_inline_text_with_the_same_ids_is_refused(tmp_path, tiny_vl_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n')
    embed_local(manifest, tmp_path / "out", model=str(tiny_vl_path), progress=False)
    manifest.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "changed"}\n')
    with pytest.raises(JobMismatch, match="input_fingerprint"):
        embed_local(manifest, tmp_path / "out", model=str(tiny_vl_path), progress=False)


def test_precision_job_writes_resumes_and_refuses_a_change(corpus_dir, tiny_vl_path, tmp_path):
    import json

    from qwen3_vl_rag.core.distributed import read_precision
    from qwen3_vl_rag.core.precision import calibration_ranges

    out = tmp_path / "out"
    calibration = EmbedBatch(str(tiny_vl_path), dimensions=16).embed_table(read_inputs(corpus_dir).table)
    floats = np.array([v for v in calibration.column("vector").to_pylist() if v is not None])
    ranges = calibration_ranges(floats)
    job = dict(model=str(tiny_vl_path), shard_size=6, dimensions=16, progress=False)
    embed_local(corpus_dir, out, precision="int8", ranges=ranges, **job)
    table = read_output(out)
    assert table.schema.field("vector").type == pa.list_(pa.int8(), 16)
    stored = read_precision(out)
    assert stored.name == "int8" and np.array_equal(stored.ranges, ranges)  # queries are quantized with these
    assert json.loads((out / "_job.json").read_text())["precision"]["ranges_fingerprint"] == stored.fingerprint
    os.remove(shard_path(out, 1))
    again = embed_local(corpus_dir, out, precision="int8", ranges=ranges.copy(), **job)
    assert (again.shards_skipped, again.shards_embedded) == (3, 1)
    assert read_output(out).num_rows == 21  # one identity across old and new shards
    before = sorted(p.name for p in out.iterdir())
    for other in (dict(precision="binary"), dict(precision="int8", ranges=ranges * 2), {}):
        with pytest.raises(JobMismatch, match="different precision"):
            embed_local(corpus_dir, out, **other, **job)
    assert sorted(p.name for p in out.iterdir()) == before
    binary = embed_local(corpus_dir, out, precision="binary", overwrite=True, **job)
    assert binary.shards_embedded == 4 and read_output(out).schema.field("vector").type == pa.list_(pa.int8(), 2)
    assert read_precision(out).name == "binary"
