"""The Runner: one loaded model, its lock and the batch loop, with a public per-batch hook.

Every forward pass of a local model goes through ``Runner.run`` (or the shared-prefix path, which
uses the same lock and hook). Hooks receive a ``BatchStats`` per batch: benchmarks and tests observe
the engine through them instead of replacing private methods.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .batches import Encoded, collate, token_budget_batches
from .heads import last_token
from .options import RuntimeOptions
from .runtime import input_device

Head = Callable[[Any], np.ndarray]  # last-position hidden states (B, H) -> one numpy row per sequence


@dataclass(frozen=True)
class BatchStats:
    """One forward pass: ``rows`` sequences, ``real_tokens`` of ``padded_tokens`` were real, in ``seconds``.

    ``path`` is ``"plain"`` (padded batch) or ``"prefix"`` (documents against a shared query prefix;
    the prefix itself is reported as a one-row batch).
    """

    path: str
    rows: int
    real_tokens: int
    padded_tokens: int
    seconds: float


BatchHook = Callable[[BatchStats], None]


class Runner:
    """Owns ``model`` and runs it in length-sorted token-budget batches, one caller at a time."""

    def __init__(self, model: Any, options: RuntimeOptions, pad_id: int, image_token_id: int | None = None,
                 video_token_id: int | None = None):
        self.model = model
        self.options = options
        self.pad_id = pad_id
        self.image_token_id = image_token_id
        self.video_token_id = video_token_id
        self.lock = threading.Lock()
        self._hooks: list[BatchHook] = []

    @property
    def device(self) -> Any:
        """The device that takes the inputs (the first shard's under a device map)."""
        return input_device(self.model)

    def add_batch_hook(self, hook: BatchHook) -> Callable[[], None]:
        """Call ``hook(stats)`` after every forward pass; returns a function that removes it."""
        self._hooks.append(hook)
        return lambda: self._hooks.remove(hook) if hook in self._hooks else None

    def report(self, stats: BatchStats) -> None:
        for hook in list(self._hooks):
            hook(stats)

    @contextlib.contextmanager
    def timed(self, path: str, rows: int, real_tokens: int, padded_tokens: int) -> Iterator[None]:
        """Time the enclosed forward pass and report it to the hooks."""
        start = time.perf_counter()
        yield
        self.report(BatchStats(path, rows, real_tokens, padded_tokens, time.perf_counter() - start))

    def collate(self, batch: Sequence[Encoded]) -> tuple[dict[str, Any], list[int]]:
        return collate(batch, self.pad_id, self.device, self.image_token_id, self.video_token_id)

    def hidden_last(self, batch: Sequence[Encoded]) -> Any:
        """Hidden state at each sequence's last real position (call under ``torch.inference_mode``)."""
        inputs, lengths = self.collate(batch)
        return last_token(self.model(**inputs, use_cache=False).last_hidden_state, lengths)

    def run(self, encoded: Sequence[Encoded], head: Head, *, show_progress: bool | None = None,
            desc: str = "Embedding") -> np.ndarray:
        """``head`` of every sequence, in input order; the model lock is held for the whole call."""
        import torch
        from tqdm.auto import tqdm

        options = self.options
        lengths = [len(e.ids) for e in encoded]
        batches = token_budget_batches(lengths, options.max_batch_tokens, options.max_batch_size)
        out: np.ndarray | None = None
        progress = options.show_progress if show_progress is None else show_progress
        with self.lock, torch.inference_mode(), tqdm(total=len(encoded), desc=desc, disable=not progress,
                                                      unit="item") as bar:
            for batch in batches:
                rows_in = [encoded[i] for i in batch]
                real = sum(lengths[i] for i in batch)
                with self.timed("plain", len(batch), real, len(batch) * max(lengths[i] for i in batch)):
                    rows = head(self.hidden_last(rows_in))
                if out is None:
                    out = np.empty((len(encoded),) + rows.shape[1:], dtype=rows.dtype)
                out[batch] = rows
                bar.update(len(batch))
        assert out is not None, "run() needs at least one sequence"
        return out
