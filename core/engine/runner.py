"""The Runner: one loaded model, its lock and the batch loop, with a public per-batch hook.

Every forward pass of a local model goes through ``Runner.run`` (or the shared-prefix path, which
uses the same lock and hook). Hooks receive a ``BatchStats`` per batch: benchmarks and tests observe
the engine through them instead of replacing private methods.

The loop is a small pipeline: while the model runs batch k, worker threads load the pending media
of batches k+1..k+``prefetch_batches`` (decode, resize, patchify) and stage them in pinned memory,
so the accelerator is not idle during host work and host memory holds a bounded number of batches
whatever the size of the call. A media failure found there raises the same ``InputError`` as an
up-front one, and the call returns nothing partial.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from ..errors import InputError, MediaError
from .batches import Encoded, bucket_length, collate, token_budget_batches
from .capacity import (
    CPU_BATCH_OVERHEAD_TOKENS,
    CPU_BATCH_PATCHES,
    CUDA_BATCH_OVERHEAD_TOKENS,
    CUDA_BATCH_PATCHES,
    device_batch_limits,
    free_device_bytes,
)
from .heads import last_token
from .options import RuntimeOptions
from .runtime import Runtime, input_device
from .tuning import EngineTuning

Head = Callable[[Any], Any]  # last-position hidden states (B, H) -> one row per sequence (a tensor, same device)
Layout = list[int] | None  # a packed batch's sequences per row; None: a padded batch, one sequence per row
Collated = tuple[dict[str, Any], list[int], list[int] | None]  # (model inputs, end columns, rows; see last_token)


@dataclass(frozen=True)
class BatchStats:
    """One forward pass: ``rows`` sequences, ``real_tokens`` of ``padded_tokens`` were real, in ``seconds``.

    ``path`` is ``"plain"`` (padded or packed batch) or ``"prefix"`` (documents against a shared query prefix;
    the prefix itself is reported as a one-row batch).
    """

    path: str
    rows: int
    real_tokens: int
    padded_tokens: int
    seconds: float


BatchHook = Callable[[BatchStats], None]
Ran = Callable[[list[Encoded]], None]  # a call's sequences that a forward pass just ran (see ``Runner.run``)


def resolve_options(options: RuntimeOptions, runtime: Runtime, model: Any) -> RuntimeOptions:
    """Fill what the caller left to the machine: batch limits (``engine.capacity``), the pass cost, shape buckets
    (on with ``compile`` only), host workers. No acceleration is turned on here: they are opt-in."""
    import torch

    on_cuda = str(input_device(model)).startswith("cuda")
    tokens, rows = options.max_batch_tokens, options.max_batch_size
    if tokens is None or rows is None:
        dtype_bytes = torch.tensor([], dtype=runtime.dtype).element_size()
        auto_tokens, auto_rows = device_batch_limits(model.config, str(input_device(model)), dtype_bytes,
                                                     free_device_bytes(input_device(model)))
        tokens, rows = tokens or auto_tokens, rows or auto_rows
    t = options.tuning
    overhead = t.batch_overhead_tokens
    if overhead is None:
        overhead = CUDA_BATCH_OVERHEAD_TOKENS if on_cuda else CPU_BATCH_OVERHEAD_TOKENS
    tuning = replace(
        t, max_batch_patches=t.max_batch_patches or (CUDA_BATCH_PATCHES if on_cuda else CPU_BATCH_PATCHES),
        batch_overhead_tokens=overhead,
        shape_buckets=bool(t.compile) if t.shape_buckets is None else t.shape_buckets,
        host_workers=t.host_workers or min(8, os.cpu_count() or 1),
    )
    return replace(options, max_batch_tokens=tokens, max_batch_size=rows, tuning=tuning)


def sdpa_context(kernels: tuple[str, ...] | None) -> Any:
    """Restrict ``scaled_dot_product_attention`` to ``kernels`` (no restriction when None)."""
    if not kernels:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    names = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
             "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}
    return sdpa_kernel([names[k] for k in kernels])


class Runner:
    """Owns ``model`` and runs it in length-sorted token-budget batches, one caller at a time."""

    def __init__(self, model: Any, options: RuntimeOptions, runtime: Runtime, pad_id: int,
                 image_token_id: int | None = None, video_token_id: int | None = None):
        self.model = model
        self.runtime = runtime
        self.options = resolve_options(options, runtime, model)
        if self.tuning.sdpa_kernels and runtime.attn_implementation != "sdpa":
            raise ValueError(f"sdpa_kernels={self.tuning.sdpa_kernels} needs attn_implementation='sdpa', not "
                             f"{runtime.attn_implementation!r} (the kernels of other attentions are not SDPA's)")
        if self.tuning.accelerated:  # the default path never imports engine.accelerations
            from .accelerations import install

            self.options = replace(self.options, tuning=install(model, self.tuning, runtime))
        self.pad_id = pad_id
        self.image_token_id = image_token_id
        self.video_token_id = video_token_id
        self.lock = threading.Lock()  # one forward pass at a time
        self._queue_lock = threading.Lock()
        self._queue: list[_Job] = []  # calls waiting for the model (``run`` merges them)
        self._hooks: list[BatchHook] = []

    @property
    def tuning(self) -> EngineTuning:
        """The engine tuning in force (the caller's, with the machine's choices filled in)."""
        return self.options.tuning

    @property
    def device(self) -> Any:
        """The device that takes the inputs (the first shard's under a device map)."""
        return input_device(self.model)

    @property
    def waiting_calls(self) -> int:
        """Calls queued for the model right now (they will share forward passes)."""
        with self._queue_lock:
            return len(self._queue)

    # -- hooks -------------------------------------------------------------------------------------------
    def add_batch_hook(self, hook: BatchHook) -> Callable[[], None]:
        """Call ``hook(stats)`` after every forward pass; returns a function that removes it."""
        self._hooks.append(hook)
        return lambda: self._hooks.remove(hook) if hook in self._hooks else None

    def report(self, stats: BatchStats) -> None:
        for hook in list(self._hooks):
            hook(stats)

    @contextlib.contextmanager
    def timed(self, path: str, rows: int, real_tokens: int, padded_tokens: int) -> Iterator[None]:
        """Time the enclosed forward pass (synchronous: CPU, or a GPU path that reads its result) and report it."""
        start = time.perf_counter()
        yield
        self.report(BatchStats(path, rows, real_tokens, padded_tokens, time.perf_counter() - start))

    # -- batches -----------------------------------------------------------------------------------------
    def width(self, longest: int) -> int:
        """Padded length of a batch whose longest row is ``longest`` (bucketed when ``shape_buckets``)."""
        return bucket_length(longest) if self.tuning.shape_buckets else longest

    @property
    def on_cuda(self) -> bool:
        return str(self.device).startswith("cuda")

    def plan(self, lengths: Sequence[int], patches: Sequence[int] | None = None,
             cost_share: float = 1.0) -> list[list[int]]:
        """Length-sorted batches; a pass costs ``cost_share`` x ``batch_overhead_tokens`` padded tokens."""
        o, t = self.options, self.tuning  # resolve_options filled every limit
        return token_budget_batches(lengths, cast(int, o.max_batch_tokens), cast(int, o.max_batch_size),
                                    batch_cost=round(cost_share * cast(int, t.batch_overhead_tokens)), width=self.width,
                                    patches=patches, max_batch_patches=t.max_batch_patches)

    @property
    def varlen(self) -> bool:
        """Packed batches run as one row of variable-length flash attention (no padding at all)."""
        return self.runtime.attn_implementation == "flash_attention_2"

    def plan_packed(self, lengths: Sequence[int], patches: Sequence[int] | None = None
                    ) -> list[tuple[list[int], Layout]]:
        """Packed batches: (indices in row order, sequences per row). One row per batch with flash attention,
        else rows of ``PACK_ROW_TOKENS`` under a block mask (``engine.accelerations.packing``)."""
        from .accelerations.packing import PACK_ROW_TOKENS, packed_batches

        o, t = self.options, self.tuning
        tokens = cast(int, o.max_batch_tokens)
        batches = packed_batches(lengths, tokens, 1 if self.varlen else cast(int, o.max_batch_size),
                                 tokens if self.varlen else PACK_ROW_TOKENS,
                                 width=None if self.varlen else self.width, patches=patches,
                                 max_batch_patches=t.max_batch_patches,
                                 batch_cost=cast(int, t.batch_overhead_tokens))
        return [([i for row in rows for i in row], [len(row) for row in rows]) for rows in batches]

    def collate(self, batch: Sequence[Encoded], layout: Layout = None) -> Collated:
        """Model inputs on the device (pending media loaded; padded to the bucket; pinned on CUDA), each
        sequence's end column and, packed (``layout``: sequences per row), its row (see ``last_token``)."""
        batch = [e.loaded() for e in batch]
        if layout is None:
            inputs, lengths = collate(batch, self.pad_id, self.device, self.image_token_id, self.video_token_id,
                                      width=self.width(max(len(e.ids) for e in batch)), pin=self.on_cuda)
            return inputs, lengths, None
        from .accelerations.packing import collate_packed

        rows, start = [], 0
        for count in layout:
            rows.append(batch[start:start + count])
            start += count
        width = None if self.varlen else self.width(max(sum(len(e.ids) for e in row) for row in rows))
        # compiled towers take no boundaries: a new max_length would be a new graph
        return collate_packed(rows, self.pad_id, self.device, self.image_token_id, self.video_token_id,
                              width=width, pin=self.on_cuda, rope_index=getattr(self.model, "get_rope_index", None),
                              varlen_boundaries=self.varlen and not self.tuning.compile)

    def forward(self, inputs: dict[str, Any], lengths: Sequence[int], rows: Sequence[int] | None = None) -> Any:
        """Hidden state at each sequence's last real position (call under ``torch.inference_mode``)."""
        with sdpa_context(self.tuning.sdpa_kernels):
            hidden = self.model(**inputs, use_cache=False).last_hidden_state
        return last_token(hidden, lengths, rows)

    def _prepared(self, encoded: Sequence[Encoded], batches: list[tuple[list[int], Layout]],
                  workers: ThreadPoolExecutor) -> Iterator[tuple[list[int], Collated]]:
        """Yield (batch, (inputs, ends, rows)) in order; media of the next batches load while the caller computes."""

        def load(item: Encoded) -> Encoded:
            try:
                return item.loaded()
            except MediaError as exc:
                raise InputError(item.index, str(exc)) from exc

        def prepare(batch: list[int], layout: Layout) -> Collated:
            items = list(workers.map(load, [encoded[i] for i in batch]))
            return self.collate(items, layout)

        pending: deque[tuple[list[int], Future[Collated]]] = deque()
        upcoming = iter(batches)
        with ThreadPoolExecutor(1, thread_name_prefix="qwen3-rag-batch") as feeder:
            def submit() -> None:
                planned = next(upcoming, None)
                if planned is not None:
                    pending.append((planned[0], feeder.submit(prepare, *planned)))

            for _ in range(self.tuning.prefetch_batches):
                submit()
            try:
                while pending:
                    batch, future = pending.popleft()
                    collated = future.result()
                    submit()
                    yield batch, collated
            finally:
                for _, future in pending:
                    future.cancel()

    def run(self, encoded: Sequence[Encoded], head: Head, *, show_progress: bool | None = None,
            desc: str = "Embedding", ran: Ran | None = None) -> np.ndarray:
        """``head`` of every sequence, in input order.

        Callers that arrive while the model is busy wait together; the first to get the model runs all
        their sequences (same ``head``) in shared batches and hands each caller exactly its own rows. If
        a merged run fails, each waiting call runs alone, so an error reaches only the call it belongs to.
        ``ran`` receives this call's sequences of each forward pass when the pass is reported to the batch
        hooks (possibly on another caller's thread, always before ``run`` returns or raises): usage counts them.
        """
        job = _Job(list(encoded), head, show_progress, desc, ran or _ignore)
        with self._queue_lock:
            self._queue.append(job)
        with self.lock:
            if job.result is None and job.error is None:
                with self._queue_lock:  # this call, and every waiting one with the same head
                    jobs = [job] + [j for j in self._queue if j.head is head and j is not job]
                    self._queue = [j for j in self._queue if j.head is not head]
                self._run_jobs(jobs)
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _run_jobs(self, jobs: list[_Job]) -> None:
        """Run queued calls together (under the model lock); on failure, each alone."""
        if len(jobs) > 1:
            merged = [e for j in jobs for e in j.encoded]
            owners = [(j, i) for j in jobs for i in range(len(j.encoded))]

            def ran(batch: list[int]) -> None:  # each caller is told of its own sequences
                for j in jobs:
                    mine = [i for job, i in (owners[k] for k in batch) if job is j]
                    if mine:
                        j.ran_rows(mine)

            try:
                out = self._run_batches(merged, jobs[0].head, jobs[0].show_progress, jobs[0].desc, ran)
            except Exception:  # noqa: BLE001 - rerun each call alone so the error reaches its owner only
                pass
            else:
                start = 0
                for j in jobs:
                    j.result, start = out[start:start + len(j.encoded)], start + len(j.encoded)
                return
        for j in jobs:
            try:
                j.result = self._run_batches(j.encoded, j.head, j.show_progress, j.desc, j.ran_rows)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller that owns it
                j.error = exc

    def _run_batches(self, encoded: Sequence[Encoded], head: Head, show_progress: bool | None,
                     desc: str, ran: Callable[[list[int]], None]) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        lengths = [len(e.ids) for e in encoded]
        patches = [e.patches for e in encoded]
        batches: list[tuple[list[int], Layout]] = (
            self.plan_packed(lengths, patches) if self.tuning.pack_sequences
            else [(b, None) for b in self.plan(lengths, patches)])
        out: np.ndarray | None = None
        progress = self.options.show_progress if show_progress is None else show_progress
        streaming = self.on_cuda or any(e.pending is not None for e in encoded)
        deferred: list[tuple[list[int], Any, Any, Any, tuple[int, int, int]]] = []
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            bar = stack.enter_context(tqdm(total=len(encoded), desc=desc, disable=not progress, unit="item"))
            if streaming:
                workers = stack.enter_context(ThreadPoolExecutor(cast(int, self.tuning.host_workers),
                                                                 thread_name_prefix="qwen3-rag-media"))
                prepared = self._prepared(encoded, batches, workers)
            else:
                prepared = ((b, self.collate([encoded[i] for i in b], layout)) for b, layout in batches)
            for batch, (inputs, ends, rows_of) in prepared:
                sizes = (len(batch), sum(lengths[i] for i in batch), int(inputs["input_ids"].numel()))
                if self.on_cuda:  # no sync per batch: results and timings are collected at the end
                    start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call, unused-ignore]
                    end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call, unused-ignore]
                    start.record()
                    rows = head(self.forward(inputs, ends, rows_of))
                    end.record()
                    deferred.append((batch, rows, start, end, sizes))
                else:
                    with self.timed("plain", *sizes):
                        rows = head(self.forward(inputs, ends, rows_of)).cpu().numpy()
                    ran(batch)
                    out = _place(out, batch, rows, len(encoded))
                bar.update(len(batch))
            if deferred:
                torch.cuda.synchronize(self.device)
                for batch, rows, start, end, sizes in deferred:
                    self.report(BatchStats("plain", *sizes, start.elapsed_time(end) / 1000))
                    ran(batch)
                    out = _place(out, batch, rows.cpu().numpy(), len(encoded))
        assert out is not None, "run() needs at least one sequence"
        return out


def _ignore(sequences: list[Encoded]) -> None:
    """The ``ran`` of a caller that does not count."""


def _place(out: np.ndarray | None, batch: list[int], rows: np.ndarray, n: int) -> np.ndarray:
    """Write a batch's rows at their input positions (allocating the output on the first batch)."""
    if out is None:
        out = np.empty((n,) + rows.shape[1:], dtype=rows.dtype)
    out[batch] = rows
    return out


@dataclass
class _Job:
    """One caller's sequences waiting for the model, and what came back for them."""

    encoded: list[Encoded]
    head: Head
    show_progress: bool | None
    desc: str
    ran: Ran
    result: np.ndarray | None = None
    error: BaseException | None = None

    def ran_rows(self, rows: list[int]) -> None:
        """A forward pass ran these of the call's sequences (positions in ``encoded``)."""
        self.ran([self.encoded[i] for i in rows])
