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
