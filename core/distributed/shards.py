"""Deterministic shards, the job record and the shard worker: what makes a bulk job resumable.

A job splits its rows into numbered shards; each shard is embedded as a whole and written to
``part-NNNNNN.parquet`` by an atomic rename, so a shard file exists only when complete. A rerun lists the
shard files already present and embeds only the missing shards: no id sets travel anywhere. ``_job.json``
records what defines the shards (model, dimensions, instruction, shard size, row count and a fingerprint
of the input, ``FINGERPRINT_COVERS``); a rerun with a different definition is refused instead of mixing
two jobs in one directory. ``JobOutput`` owns the directory's life: lock, put-aside of a replaced job,
repair after a kill.

The same ``ShardWorker`` runs in process (``embed_local``) and inside Ray actors (``embed_dataset``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..precision import VectorPrecision
from .batch import IMAGE, TEXT_FILE, VIDEO, EmbedBatch, ModelSpec, identity_from_schema, positive_int
from .errors import JobError, JobMismatch
from .pages import PDF

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no output-directory lock
    fcntl = None  # type: ignore[assignment]

SHARD, SHARD_ROWS = "_shard", "_shard_rows"  # internal columns: the shard of a row and its shard's size
JOB_FILE = "_job.json"
LOCK_FILE = ".lock"
# a replaced job's files while the new job has no shard yet (put aside / being put aside / being restored)
REPLACED, REPLACING, RESTORING = ".replaced", ".replaced.tmp", ".restoring"
FILE_COLUMNS = frozenset({TEXT_FILE, IMAGE, VIDEO, PDF})
DEFAULT_SHARD_SIZE = 1000


def shard_path(output: str | os.PathLike[str], shard: int) -> Path:
    return Path(output, f"part-{shard:06d}.parquet")


FINGERPRINT_COVERS = ("the column names; every id and inline value (text, bytes) in order; and for every value "
                      "naming a local file, its path, size and modification time")


def fingerprint(table: Any) -> str:
    """A digest of a job's input table: a rerun over a changed input is refused, not silently merged.

    Covers ``FINGERPRINT_COVERS``: file contents are not read (a file rewritten with the same size and
    modification time goes unnoticed). Every value is typed and length-prefixed, so no two different
    tables share a digest by concatenation (``['a\\0b', 'c']`` and ``['a', 'b\\0c']`` differ)."""
    digest = hashlib.sha256()

    def feed(tag: bytes, data: bytes) -> None:
        digest.update(tag + len(data).to_bytes(8, "little") + data)

    for name in sorted(table.column_names):
        feed(b"c", name.encode("utf-8", "surrogatepass"))
        local = name in FILE_COLUMNS
        for value in table.column(name).to_pylist():
            if value is None:
                feed(b"n", b"")
            elif isinstance(value, (bytes, bytearray)):
                feed(b"b", bytes(value))
            elif isinstance(value, str):
                feed(b"s", value.encode("utf-8", "surrogatepass"))
                if local:
                    feed(b"f", _file_stamp(value))
            else:
                feed(b"r", json.dumps(value, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def _file_stamp(value: str) -> bytes:
    path = value[len("file://"):] if value.startswith("file://") else value
    if len(path) > 4096 or "://" in path or path.startswith("data:"):
        return b""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return b"-"
    return f"{status.st_size}:{status.st_mtime_ns}".encode()


def describe_factory(factory: Any) -> dict[str, Any]:
    if isinstance(factory, ModelSpec):
        return factory.describe()
    return {"factory": f"{type(factory).__module__}.{getattr(factory, '__qualname__', type(factory).__qualname__)}"}


def job_record(batch: EmbedBatch, *, shard_size: int, rows: int, ids_fingerprint: str | None,
               sharding: str) -> dict[str, Any]:
    """What defines a job's shards and vectors (written to ``_job.json``); ``ids_fingerprint`` is the
    input's ``fingerprint`` (None for a Ray dataset, whose rows are not read up front)."""
    record = {"format": 2, "model": describe_factory(batch.factory), "dimensions": batch.dimensions,
              "instruction": batch.instruction, "keep_columns": list(batch.keep_columns), "sharding": sharding,
              "shard_size": shard_size, "rows": rows, "num_shards": -(-rows // shard_size) if rows else 0,
              "input_fingerprint": ids_fingerprint}
    if batch.precision.name != "float32":  # float32 records stay as they were, so older jobs resume
        record["precision"] = batch.precision.to_dict()  # with int8 / uint8 ranges: queries need them
    return record


def record_digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


class JobOutput:
    """The output directory of one job, through its life: nothing in it changes before ``start``.

    ``check()`` (read only, before the model loads) refuses another job's shards unless ``overwrite``
    and a directory another run is writing to. ``start()`` takes the directory's lock (``.lock``: a
    second run on the same directory is refused while the first lives), puts a replaced job's files
    aside in ``.replaced/``, writes ``_job.json`` and returns the shards already written (unreadable or
    short ones are deleted and redone). ``shard_written()`` discards the replaced job once the new job
    has a shard; ``close(failed)`` restores it if the new job failed before that, and leaves the
    directory as it was found when the new job wrote nothing. A run killed anywhere in between (even by
    SIGKILL) is repaired by the next ``start``: an interrupted put-aside or restore is completed.
    """

    def __init__(self, path: str | os.PathLike[str], record: dict[str, Any], overwrite: bool = False):
        self.path, self.record, self.overwrite = Path(path), record, overwrite
        self.job_file = self.path / JOB_FILE
        self._lock_fd: int | None = None
        self._created = self._replaced = self._wrote_record = self._committed = False
        self.repaired: list[str] = []  # shard files found unreadable or short by start(), deleted and redone

    # -- read only ---------------------------------------------------------------------------------
    def check(self) -> None:
        """Refuse now (nothing written) what ``start`` would refuse."""
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise JobError(f"output {str(self.path)!r} is a file, not a directory; give a directory")
        self._refuse_if_locked()
        if (self.path / REPLACED).exists() or (self.path / REPLACING).exists() or (self.path / RESTORING).exists():
            return  # an interrupted earlier run: start() repairs it first, then decides
        self._refuse_other_job()

    def _parts(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))

    def _previous(self) -> dict[str, Any] | None:
        if not self.job_file.exists():
            return None
        try:
            previous: dict[str, Any] = json.loads(self.job_file.read_text())
        except (OSError, ValueError):
            return {"unreadable": True}
        return previous

    def _refuse_other_job(self) -> None:
        parts, previous = self._parts(), self._previous()
        if not parts or self.overwrite:
            return  # nothing to protect (a record without shards is replaced), or asked to replace it
        if previous is None:
            raise JobMismatch(f"{str(self.path)!r} holds part files but no {JOB_FILE}; use an empty output "
                              "directory, or --overwrite (overwrite=True) to replace them")
        if previous != self.record:
            differing = sorted(k for k in set(previous) | set(self.record) if previous.get(k) != self.record.get(k))
            raise JobMismatch(f"{str(self.path)!r} holds shards of another job (different {', '.join(differing)}); "
                              "use a new output directory, or --overwrite (overwrite=True) to replace them")

    def _refuse_if_locked(self) -> None:
        if fcntl is None or not (self.path / LOCK_FILE).exists():
            return
        try:
            fd = os.open(self.path / LOCK_FILE, os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobError(self._busy_message(fd)) from None
        finally:
            os.close(fd)

    def _busy_message(self, fd: int) -> str:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        return (f"another run (pid {holder}) is writing to {str(self.path)!r}; wait for it to end, or use another "
                "output directory")

    # -- writing -----------------------------------------------------------------------------------
    def start(self) -> set[int]:
        """Lock, repair, check again, put a replaced job aside, write the record; the shards already done."""
        if not self.path.exists():
            self.path.mkdir(parents=True)
            self._created = True
        self._lock()
        self._repair()
        self._refuse_other_job()
        previous, parts = self._previous(), self._parts()
        if (parts and self.overwrite) or (previous is not None and previous != self.record):
            self._put_aside(parts)
        for pattern in (".part-*.tmp", f".{JOB_FILE}.*.tmp"):  # left by a process killed while writing
            for stale in self.path.glob(pattern):
                stale.unlink(missing_ok=True)
        if self._previous() != self.record:
            _atomic_write_bytes(self.job_file, (json.dumps(self.record, indent=2, sort_keys=True) + "\n").encode())
            self._wrote_record = True
        return self._done_shards()

    def _lock(self) -> None:
        if fcntl is None:  # pragma: no cover - Windows: no lock
            return
        lock = self.path / LOCK_FILE
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                message = self._busy_message(fd)
                os.close(fd)
                self._undo_create()
                raise JobError(message) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file that its holder removed meanwhile
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _repair(self) -> None:
        """Finish what a killed run left half done: a put-aside, a restore, or a replaced job to discard."""
        replacing, replaced, restoring = self.path / REPLACING, self.path / REPLACED, self.path / RESTORING
        if replacing.exists():  # killed while putting a job aside: put it back
            _move_all(replacing, self.path)
        if replaced.exists():
            if self._parts():  # the new job wrote a shard: the replaced one is gone for good
                shutil.rmtree(replaced)
            else:  # the new job wrote nothing: the replaced job comes back
                self.job_file.unlink(missing_ok=True)
                os.replace(replaced, restoring)
        if restoring.exists():
            _move_all(restoring, self.path)

    def _put_aside(self, parts: list[Path]) -> None:
        replacing = self.path / REPLACING
        replacing.mkdir()
        for part in parts:
            os.replace(part, replacing / part.name)
        if self.job_file.exists():
            os.replace(self.job_file, replacing / JOB_FILE)
        os.replace(replacing, self.path / REPLACED)
        self._replaced = True

    def _done_shards(self) -> set[int]:
        import pyarrow.parquet as pq

        done = set()
        num_shards, shard_size, rows = self.record["num_shards"], self.record["shard_size"], self.record["rows"]
        for part in self._parts():
            name = part.name[5:11]
            if not (name.isdigit() and part.name == shard_path("", int(name)).name and int(name) < num_shards):
                continue
            shard = int(name)
            expected = min(shard_size, rows - shard * shard_size) if self.record["sharding"] == "position" else None
            try:
                ok = expected is None or pq.read_metadata(part).num_rows == expected
            except Exception:  # noqa: BLE001 - any unreadable file is redone
                ok = False
            if ok:
                done.add(shard)
            else:
                part.unlink()
                self.repaired.append(part.name)
        return done

    def shard_written(self) -> None:
        """The new job has a shard in the directory: the replaced job's files can go."""
        if not self._committed:
            self._committed = True
            if self._replaced:
                shutil.rmtree(self.path / REPLACED, ignore_errors=True)

    def close(self, failed: bool) -> None:
        """Release the directory; after a failure before the first shard, leave it as it was found."""
        try:
            if failed and not self._committed and not self._parts():
                if self._replaced:
                    self.job_file.unlink(missing_ok=True)
                    os.replace(self.path / REPLACED, self.path / RESTORING)
                    _move_all(self.path / RESTORING, self.path)
                elif self._wrote_record:
                    self.job_file.unlink(missing_ok=True)
            elif not failed:
                self.shard_written()
        finally:
            self._unlock()
            if failed:
                self._undo_create()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            (self.path / LOCK_FILE).unlink(missing_ok=True)  # removed while held: see _lock
            os.close(self._lock_fd)
            self._lock_fd = None

    def _undo_create(self) -> None:
        if self._created:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only if empty
            self._created = False


def _move_all(source: Path, target: Path) -> None:
    for item in sorted(source.iterdir()):
        os.replace(item, target / item.name)
    source.rmdir()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
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
                 batch_size: int | None = None, record: dict[str, Any] | None = None):
        if output is None and sink is None:
            raise ValueError("give an output directory, a sink, or both")
        self.batch, self.output, self.sink = batch, output, sink
        self.batch_size = positive_int("batch_size", batch_size)
        # the job this worker writes for: a shard is never written into a directory another job took over
        self.digest = record_digest(record) if record is not None else None

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
            _write_parquet_atomic(out, Path(path), self._still_ours)
        if out is not None and self.sink is not None:
            self.sink(out)
        errors = 0 if out is None else out.column("error").length() - out.column("error").null_count
        return {"shard": shard, "rows": part.num_rows, "errors": errors,
                "seconds": time.perf_counter() - start, "path": path}

    def _still_ours(self) -> bool:
        if self.digest is None or self.output is None:
            return True
        try:
            return record_digest(json.loads(Path(self.output, JOB_FILE).read_text())) == self.digest
        except (OSError, ValueError):
            return False


def _summary_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("shard", pa.int64()), ("rows", pa.int64()), ("errors", pa.int64()),
                      ("seconds", pa.float64()), ("path", pa.string())])


def _write_parquet_atomic(table: Any, path: Path, still_ours: Callable[[], bool] = lambda: True) -> None:
    """Write to a hidden temporary file, flush it to disk, rename: the shard exists whole or not at all."""
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as file:
            pq.write_table(table, file)
            file.flush()
            os.fsync(file.fileno())
        if not still_ours():
            raise RuntimeError(f"{str(path.parent)!r} now holds another job's record; shard {path.name} not written")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class EmbedReport:
    """What a bulk job did: shards in the job, skipped (already written) and embedded now, rows embedded
    now, dead-letter rows among them, wall time, input paths found but not embedded (path -> reason)
    and shard files found unreadable or short, deleted and embedded again (``shards_repaired``)."""

    shards: int
    shards_skipped: int
    shards_embedded: int
    rows: int
    errors: int
    seconds: float
    output: str | None = None
    mode: str = "in-process"
    skipped_files: dict[str, str] = field(default_factory=dict)
    shards_repaired: list[str] = field(default_factory=list)

    @property
    def items_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "skipped_files": len(self.skipped_files), "shards_repaired": len(self.shards_repaired),
                "items_per_s": self.items_per_s}


def read_output(output: str | os.PathLike[str], columns: Sequence[str] | None = None) -> Any:
    """All shards of ``output`` as one pyarrow table (identity in its schema metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(Path(output).glob("part-*.parquet"))
    if not parts:
        raise FileNotFoundError(f"no part-*.parquet under {str(output)!r}")
    tables, identities = [], set()
    for part in parts:
        try:
            tables.append(pq.read_table(part, columns=list(columns) if columns else None))
            identities.add(json.dumps(identity_from_schema(pq.read_schema(part)).to_dict(), sort_keys=True))
        except (pa.ArrowException, OSError) as exc:
            raise JobError(f"{str(part)!r} is unreadable ({str(exc).splitlines()[0] if str(exc) else exc!r}); rerun "
                           "the job that wrote it: it embeds that shard again") from exc
    if len(identities) > 1:
        raise ValueError(f"the shards of {str(output)!r} come from different vector spaces: {sorted(identities)}")
    return pa.concat_tables(tables).replace_schema_metadata(tables[0].schema.metadata)


def read_precision(output: str | os.PathLike[str]) -> VectorPrecision:
    """The precision a job in ``output`` stored its vectors at, with its int8 / uint8 ranges (from
    ``_job.json``): pass it as ``precision=`` to quantize queries the same way."""
    file = Path(output, JOB_FILE)
    try:
        record = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise JobError(f"{str(file)!r} cannot be read ({exc}); is {str(output)!r} a job's output directory?") from exc
    return VectorPrecision.from_dict(record.get("precision") or {})
