"""``embed_dataset``: a bulk job over Ray Data, N actors (one model each) on GPUs or CPUs.

Rows are cut into deterministic shards (consecutive rows for a directory, glob or manifest; a hash of
the id for a ``ray.data.Dataset`` you built). Each actor embeds whole shards with ``ShardWorker`` and
writes each one atomically, so a killed actor's shard is redone by its replacement without duplicates,
and a rerun embeds only the shards missing from the output directory. Restarts and retries are bounded
(Ray's default is unbounded: a crash loop would never end). The output directory must be visible to
every node (a shared filesystem) when the cluster has several machines.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from ..precision import Precision
from .batch import ID, EmbedBatch, ModelFactory, positive_int
from .inputs import read_inputs
from .shards import (
    DEFAULT_SHARD_SIZE,
    SHARD,
    SHARD_ROWS,
    EmbedReport,
    JobOutput,
    ShardWorker,
    fingerprint,
    job_record,
    position_shards,
)

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a local Ray binds 127.0.0.1 only (read at import)


def import_ray(local: bool = False) -> Any:
    """Import Ray (and Ray Data) or say how to install it. ``local``: the caller will start a one-machine
    cluster, so keep it on the loopback interface. Ray reads that switch when it is first imported."""
    if local and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ENV, "0")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ImportError('Ray is not installed: pip install "qwen3-vl-rag[distributed]" (or run in process '
                          "without --ray / --ray-address / --gpus N>1)") from exc
    return ray


def start_local_ray(num_cpus: int | None = None, num_gpus: int | None = None, **kwargs: Any) -> None:
    """Start a one-machine Ray cluster on the loopback interface only (no dashboard), unless one is up."""
    ray = import_ray(local=True)
    if ray.is_initialized():
        return
    if _binds_network_address():
        warnings.warn(f"Ray was imported before {LOOPBACK_ENV}=0 was set, so this local cluster listens on the "
                      f"machine's network address; set {LOOPBACK_ENV}=0 before importing ray to keep it on "
                      "127.0.0.1", RuntimeWarning, stacklevel=2)
    ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             **kwargs)


def _binds_network_address() -> bool:
    try:
        from ray._private import ray_constants  # private: used for this warning only
    except ImportError:  # pragma: no cover - a later Ray moved it
        return False
    return bool(getattr(ray_constants, "ENABLE_RAY_CLUSTER", False))


class _GroupShardWorker(ShardWorker):
    """For ``groupby(_shard).map_groups``: a group is a whole shard, so its size is the group's size."""

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa

        return super().__call__(table.append_column(SHARD_ROWS, pa.array([table.num_rows] * table.num_rows,
                                                                          type=pa.int64())))


class _HashShard:
    """Adds ``_shard`` = crc32(str(id)) mod ``num_shards`` and drops the rows of shards in ``done``."""

    def __init__(self, num_shards: int, done: set[int]):
        self.num_shards, self.done = num_shards, frozenset(done)

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa

        shards = [zlib.crc32(str(v).encode("utf-8", "surrogatepass")) % self.num_shards
                  for v in table.column(ID).to_pylist()]
        table = table.append_column(SHARD, pa.array(shards, type=pa.int64()))
        return table.filter(pa.array([s not in self.done for s in shards])) if self.done else table


def embed_dataset(source: Any, output: str | os.PathLike[str] | None = None, *, model: str | ModelFactory,
                  dimensions: int | None = None, instruction: str | None = None, num_actors: int = 1,
                  num_gpus: float = 0.0, num_cpus: float | None = None, batch_size: int | None = None,
                  shard_size: int = DEFAULT_SHARD_SIZE, max_restarts: int = 3, max_task_retries: int = 3,
                  sink: Callable[[Any], Any] | None = None, overwrite: bool = False, progress: bool = True,
                  keep_columns: Sequence[str] = (), ray_address: str | None = None,
                  precision: Precision = "float32", ranges: Any = None, calibration_embeddings: Any = None,
                  **model_kwargs: Any) -> EmbedReport:
    """Embed ``source`` on a Ray cluster with ``num_actors`` actors of ``num_gpus`` GPUs each (0: CPU).

    ``source``: a directory, a glob, a ``.parquet`` / ``.jsonl`` manifest, or a ``ray.data.Dataset``
    with an ``id`` column and input columns. Writes ``output/part-NNNNNN.parquet`` (resumable) and/or
    calls ``sink(table)`` in the actor for every shard (a picklable callable, e.g. a vector-store
    loader). ``batch_size``: items per model call (default: the embedder's own ``max_batch_size``).
    ``num_cpus`` per actor: by default 1 with GPUs, and for CPU actors a share that leaves one CPU free
    for Ray's read and shuffle tasks (actors that take every CPU starve them and the job hangs).
    Uses the running Ray cluster, else connects to ``ray_address``, else starts a local one.
    ``precision`` (with int8 / uint8 ``ranges`` or ``calibration_embeddings``): as for ``embed_local``.
    """
    shard_size = int(positive_int("shard_size", shard_size, required=True))  # type: ignore[arg-type]
    num_actors = int(positive_int("num_actors", num_actors, required=True))  # type: ignore[arg-type]
    positive_int("batch_size", batch_size)
    if max_restarts < 0 or max_task_retries < 0 or num_gpus < 0 or (num_cpus is not None and num_cpus <= 0):
        raise ValueError("max_restarts, max_task_retries and num_gpus must be >= 0, num_cpus > 0")
    if output is None and sink is None:
        raise ValueError("give an output directory, a sink, or both")
    ray = import_ray(local=not ray_address)
    start = time.perf_counter()
    batch = EmbedBatch(model, dimensions=dimensions, instruction=instruction, keep_columns=keep_columns,
                       precision=precision, ranges=ranges, calibration_embeddings=calibration_embeddings,
                       **model_kwargs)
    batch.preflight()  # the model name and dimensions, from its config: the driver loads no weights
    out_dir = str(output) if output is not None else None
    skipped_files: dict[str, str] = {}
    if isinstance(source, ray.data.Dataset):
        table = None
    else:
        inputs = read_inputs(source)
        table, skipped_files = inputs.table, inputs.skipped
    if not ray.is_initialized():
        if ray_address:
            ray.init(address=ray_address)
        else:
            start_local_ray()
    num_cpus = _cpus_per_actor(ray, num_actors, num_gpus, num_cpus)
    if table is None:
        rows = source.count()
        record = job_record(batch, shard_size=shard_size, rows=rows, ids_fingerprint=None, sharding="crc32(id)")
    else:
        record = job_record(batch, shard_size=shard_size, rows=table.num_rows, ids_fingerprint=fingerprint(table),
                            sharding="position")
    job = JobOutput(out_dir, record, overwrite) if out_dir is not None else None
    if job is not None:
        job.check()
    done = job.start() if job is not None else set()
    failed = True
    try:
        worker_args = (batch, out_dir, sink, batch_size, record)
        options = dict(compute=ray.data.ActorPoolStrategy(size=num_actors), batch_format="pyarrow",
                       fn_constructor_args=worker_args, num_cpus=num_cpus, num_gpus=num_gpus or None,
                       max_restarts=max_restarts, max_task_retries=max_task_retries)
        if table is None:
            expected = None
            dataset = source.map_batches(_HashShard(record["num_shards"], done), batch_format="pyarrow")
            with _bounded_restarts_args():
                results = dataset.groupby(SHARD).map_groups(_GroupShardWorker, **options)
        else:
            blocks = position_shards(table, shard_size, skip=done)
            expected = sum(b.num_rows for b in blocks)
            results = None
            if blocks:  # one block per shard; batch_size=None hands each actor call whole blocks
                with _bounded_restarts_args():
                    results = ray.data.from_arrow(blocks).map_batches(ShardWorker, batch_size=None, **options)
        from .local import _progress

        bar = _progress(record["num_shards"] - len(done), progress)
        shards_embedded = rows_done = errors = 0
        context = ray.data.DataContext.get_current()
        ray_bars, context.enable_progress_bars = context.enable_progress_bars, progress and context.enable_progress_bars
        try:
            for summary in results.iter_rows() if results is not None else ():
                if job is not None:
                    job.shard_written()
                shards_embedded += 1
                rows_done, errors = rows_done + summary["rows"], errors + summary["errors"]
                bar.update(1)
        finally:
            context.enable_progress_bars = ray_bars
            bar.close()
        if expected is not None and rows_done != expected:
            raise RuntimeError(f"the job embedded {rows_done} rows where {expected} were expected")
        failed = False
    finally:
        if job is not None:
            job.close(failed)
    return EmbedReport(shards=record["num_shards"], shards_skipped=len(done), shards_embedded=shards_embedded,
                       rows=rows_done, errors=errors, seconds=time.perf_counter() - start, output=out_dir,
                       mode="ray", skipped_files=skipped_files, shards_repaired=job.repaired if job else [])


def _cpus_per_actor(ray: Any, num_actors: int, num_gpus: float, num_cpus: float | None) -> float:
    total = float(ray.cluster_resources().get("CPU", 0))
    if num_gpus:
        return 1.0 if num_cpus is None else num_cpus
    share = min(1.0, (total - 1) / num_actors) if num_cpus is None else num_cpus
    if share <= 0 or share * num_actors > total - 1 + 1e-9:
        raise ValueError(f"{num_actors} CPU actor(s) x {share:g} CPU on a cluster of {total:g} CPUs leave no CPU "
                         "for Ray's read and shuffle tasks: the job would hang. Use fewer actors or a smaller "
                         "num_cpus.")
    return share


class _bounded_restarts_args(warnings.catch_warnings):
    """Ray 2.60 has no named parameter for ``max_restarts`` / ``max_task_retries`` of a map actor pool; the
    remote-args route works but warns that it goes away in 2.64. Bounding them matters more (Ray's
    default retries forever), so the warning is silenced here only."""

    def __enter__(self) -> Any:
        result = super().__enter__()
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated.*")
        return result
