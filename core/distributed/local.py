"""A bulk job in this process: the same inputs, shards, batch function and output as the Ray job, no Ray."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..precision import Precision
from .batch import EmbedBatch, ModelFactory, positive_int
from .inputs import read_inputs
from .shards import DEFAULT_SHARD_SIZE, EmbedReport, JobOutput, ShardWorker, fingerprint, job_record, position_shards


def embed_local(source: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
                model: str | ModelFactory, dimensions: int | None = None, instruction: str | None = None,
                batch_size: int | None = None, shard_size: int = DEFAULT_SHARD_SIZE,
                sink: Callable[[Any], Any] | None = None, overwrite: bool = False, progress: bool = True,
                keep_columns: Sequence[str] = (), precision: Precision = "float32", ranges: Any = None,
                calibration_embeddings: Any = None, **model_kwargs: Any) -> EmbedReport:
    """Embed every item of ``source`` (directory, glob or manifest; see ``read_inputs``) in this process.

    Writes ``output/part-NNNNNN.parquet`` (``id``, ``vector``, ``error``) and/or calls ``sink(table)`` per
    shard. With ``output``, a rerun embeds only the shards not written yet. ``model``: a name or
    directory (plus constructor ``**model_kwargs``), a ``ModelSpec`` or a zero-argument factory.
    ``precision``: the stored vectors' precision (``core.precision``); int8 / uint8 need ``ranges`` or
    ``calibration_embeddings``, whose ranges ``_job.json`` keeps (``read_precision(output)``) so queries are
    quantized the same way. A rerun with another precision or other ranges is refused like another model.

    Arguments, input, output directory and model are all checked, and the model loaded, before anything
    is written (``JobOutput``): a mistake raises and leaves ``output`` as it was.
    """
    shard_size = int(positive_int("shard_size", shard_size, required=True))  # type: ignore[arg-type]
    positive_int("batch_size", batch_size)
    if output is None and sink is None:
        raise ValueError("give an output directory, a sink, or both")
    start = time.perf_counter()
    inputs = read_inputs(source)
    batch = EmbedBatch(model, dimensions=dimensions, instruction=instruction, keep_columns=keep_columns,
                       precision=precision, ranges=ranges, calibration_embeddings=calibration_embeddings,
                       **model_kwargs)
    table = inputs.table
    record = job_record(batch, shard_size=shard_size, rows=table.num_rows, ids_fingerprint=fingerprint(table),
                        sharding="position")
    job = JobOutput(output, record, overwrite) if output is not None else None
    if job is not None:
        job.check()
    batch.check()  # loads the model
    done = job.start() if job is not None else set()
    failed = True
    try:
        worker = ShardWorker(batch, str(output) if output is not None else None, sink, batch_size, record)
        shards = position_shards(table, shard_size, skip=done)
        bar = _progress(len(shards), progress)
        rows = errors = 0
        for shard in shards:
            summary = worker(shard).to_pylist()[0]
            if job is not None:
                job.shard_written()
            rows, errors = rows + summary["rows"], errors + summary["errors"]
            bar.update(1)
        bar.close()
        failed = False
    finally:
        if job is not None:
            job.close(failed)
    return EmbedReport(shards=record["num_shards"], shards_skipped=len(done), shards_embedded=len(shards),
                       rows=rows, errors=errors, seconds=time.perf_counter() - start,
                       output=str(output) if output is not None else None, skipped_files=inputs.skipped,
                       shards_repaired=job.repaired if job is not None else [])


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="shard", desc="embedding", disable=not enabled)
