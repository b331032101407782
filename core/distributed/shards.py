"""Deterministic shards, the job record and the shard worker: what makes a bulk job resumable.

A job splits its rows into numbered shards; each shard is embedded as a whole and written to
``part-NNNNNN.parquet`` by an atomic rename, so a shard file exists only when complete. A rerun lists the
shard files already present and embeds only the missing shards: no id sets travel anywhere. ``_job.json``
records what defines the shards (model, dimensions, instruction, shard size, row count and a fingerprint
of the ids); a rerun with a different definition is refused instead of mixing two jobs in one directory.

The same ``ShardWorker`` runs in process (``embed_local``) and inside Ray actors (``embed_dataset``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .batch import EmbedBatch, ModelSpec, identity_from_schema

SHARD, SHARD_ROWS = "_shard", "_shard_rows"  # internal columns: the shard of a row and its shard's size
JOB_FILE = "_job.json"
DEFAULT_SHARD_SIZE = 1000


class JobMismatch(ValueError):
    """An output directory holds shards of a different job (other model, input or shard size)."""


def shard_path(output: str | os.PathLike[str], shard: int) -> Path:
    return Path(output, f"part-{shard:06d}.parquet")


def fingerprint(ids: Iterable[Any]) -> str:
    """A digest of the ids in order: a rerun over a changed input is detected, not silently merged."""
    digest = hashlib.sha256()
    for value in ids:
        digest.update(str(value).encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()[:32]


def describe_factory(factory: Any) -> dict[str, Any]:
    if isinstance(factory, ModelSpec):
        return factory.describe()
    return {"factory": f"{type(factory).__module__}.{getattr(factory, '__qualname__', type(factory).__qualname__)}"}


def job_record(batch: EmbedBatch, *, shard_size: int, rows: int, ids_fingerprint: str | None,
               sharding: str) -> dict[str, Any]:
    """What defines a job's shards and vectors (written to ``_job.json``)."""
    return {"format": 1, "model": describe_factory(batch.factory), "dimensions": batch.dimensions,
            "instruction": batch.instruction, "keep_columns": list(batch.keep_columns), "sharding": sharding,
            "shard_size": shard_size, "rows": rows, "num_shards": -(-rows // shard_size) if rows else 0,
            "ids_fingerprint": ids_fingerprint}


def prepare_output(output: str | os.PathLike[str], record: dict[str, Any], overwrite: bool = False) -> set[int]:
    """Create ``output`` and its job record; return the shards already written there."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    job_file = output / JOB_FILE
    if job_file.exists():
        previous = json.loads(job_file.read_text())
        if overwrite:
            for part in output.glob("part-*.parquet"):
                part.unlink()
        elif previous != record:
            differing = sorted(k for k in set(previous) | set(record) if previous.get(k) != record.get(k))
            raise JobMismatch(f"{str(output)!r} holds shards of another job (different {', '.join(differing)}); "
                              "use a new output directory, or overwrite=True (--overwrite) to start again")
    elif any(output.glob("part-*.parquet")):
        raise JobMismatch(f"{str(output)!r} holds part files but no {JOB_FILE}; use an empty output directory")
    for stale in output.glob(".part-*.tmp"):  # left by a worker killed while writing
        stale.unlink(missing_ok=True)
    _atomic_write_bytes(job_file, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return {int(p.name[5:11]) for p in output.glob("part-*.parquet")
            if p.name[5:11].isdigit() and int(p.name[5:11]) < record["num_shards"]}


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def position_shards(table: Any, shard_size: int, skip: set[int] | frozenset[int] = frozenset()) -> list[Any]:
    """``table`` cut into consecutive shards of ``shard_size`` rows (the last may be shorter), each with the
    ``_shard`` / ``_shard_rows`` columns; shards in ``skip`` are left out."""
    import pyarrow as pa

    shards = []
    for shard, start in enumerate(range(0, table.num_rows, shard_size)):
        if shard in skip:
            continue
        part = table.slice(start, shard_size)
        shards.append(part.append_column(SHARD, pa.array([shard] * part.num_rows, type=pa.int64()))
                      .append_column(SHARD_ROWS, pa.array([part.num_rows] * part.num_rows, type=pa.int64())))
    return shards


SUMMARY_COLUMNS = ("shard", "rows", "errors", "seconds", "path")


class ShardWorker:
    """Embeds whole shards: each input table holds complete shards (``_shard``, ``_shard_rows``); each
    shard is embedded in calls of ``batch_size`` items, then written atomically to ``output`` and/or
    handed to ``sink(table)``. Returns one summary row per shard (``SUMMARY_COLUMNS``)."""

    def __init__(self, batch: EmbedBatch, output: str | None = None, sink: Callable[[Any], Any] | None = None,
                 batch_size: int | None = None):
        if output is None and sink is None:
            raise ValueError("give an output directory, a sink, or both")
        self.batch, self.output, self.sink, self.batch_size = batch, output, sink, batch_size

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        summaries = []
        for shard in sorted(set(table.column(SHARD).to_pylist())):
            part = table.filter(pc.equal(table.column(SHARD), shard))
            expected = part.column(SHARD_ROWS)[0].as_py()
            if part.num_rows != expected:  # a shard split across calls would be written incompletely
                raise RuntimeError(f"shard {shard} arrived with {part.num_rows} of its {expected} rows")
            summaries.append(self.run_shard(int(shard), part.drop_columns([SHARD, SHARD_ROWS])))
        return pa.Table.from_pylist(summaries, schema=_summary_schema())

    def run_shard(self, shard: int, part: Any) -> dict[str, Any]:
        import pyarrow as pa

        start = time.perf_counter()
        size = self.batch_size or self.batch.preferred_batch_size
        pieces = [self.batch.embed_table(part.slice(i, size)) for i in range(0, part.num_rows, size)]
        out = pa.concat_tables(pieces) if pieces else None
        path = None
        if out is not None and self.output is not None:
            path = str(shard_path(self.output, shard))
            _write_parquet_atomic(out, Path(path))
        if out is not None and self.sink is not None:
            self.sink(out)
        errors = 0 if out is None else out.column("error").length() - out.column("error").null_count
        return {"shard": shard, "rows": part.num_rows, "errors": errors,
                "seconds": time.perf_counter() - start, "path": path}


def _summary_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("shard", pa.int64()), ("rows", pa.int64()), ("errors", pa.int64()),
                      ("seconds", pa.float64()), ("path", pa.string())])


def _write_parquet_atomic(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


@dataclass
class EmbedReport:
    """What a bulk job did: shards in the job, skipped (already written) and embedded now, rows embedded
    now, dead-letter rows among them, wall time, and input files passed over (unknown type)."""

    shards: int
    shards_skipped: int
    shards_embedded: int
    rows: int
    errors: int
    seconds: float
    output: str | None = None
    mode: str = "in-process"
    skipped_files: list[str] = field(default_factory=list)

    @property
    def items_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "skipped_files": len(self.skipped_files), "items_per_s": self.items_per_s}


def read_output(output: str | os.PathLike[str], columns: Sequence[str] | None = None) -> Any:
    """All shards of ``output`` as one pyarrow table (identity in its schema metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(Path(output).glob("part-*.parquet"))
    if not parts:
        raise FileNotFoundError(f"no part-*.parquet under {str(output)!r}")
    tables = [pq.read_table(p, columns=list(columns) if columns else None) for p in parts]
    identities = {json.dumps(identity_from_schema(pq.read_schema(p)).to_dict(), sort_keys=True) for p in parts}
    if len(identities) > 1:
        raise ValueError(f"the shards of {str(output)!r} come from different vector spaces: {sorted(identities)}")
    return pa.concat_tables(tables).replace_schema_metadata(tables[0].schema.metadata)
