"""What the four local model classes share: options, runtime, the Runner, and the API over ``encode``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..api import EmbeddingAPI, Pair, ScoringAPI, as_list
from ..checkpoint import checkpoint_folder, weights_fingerprint
from ..engine.batches import Encoded
from ..engine.heads import RelevanceHead, pooled
from ..engine.options import RuntimeOptions
from ..engine.quantization import QuantizationPlan
from ..engine.quantization import plan as quantization_plan
from ..engine.runner import BatchHook, Runner
from ..engine.runtime import Runtime, hub_kwargs, resolve_runtime
from ..identity import model_key
from ..precision import Precision, VectorPrecision
from ..usage import Usage, UsageMeter, price_for
from ..vectors import check_dimensions, truncate_and_normalize


class _BatchLimit:
    """A batch limit of ``RuntimeOptions`` read and set on the model (e.g. ``model.max_batch_size = 8``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, model: LocalModel | None, owner: type | None = None) -> Any:
        return self if model is None else int(getattr(model.options, self.name) or 0)

    def __set__(self, model: LocalModel, value: int) -> None:
        changes: dict[str, Any] = {self.name: value}
        model.runner.options = replace(model.runner.options, **changes)


class LocalModel:
    """A transformers model on this machine; ``runner`` owns it, its lock and its batches."""

    model_name: str
    runtime: Runtime
    runner: Runner
    _requested: RuntimeOptions  # what the caller asked for; the runner fills in the rest
    quantization: QuantizationPlan | None  # how the weights were quantized (None: not quantized)
    _meter: UsageMeter

    def _resolve(self, model_name_or_path: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Take the runtime options out of ``kwargs``; return what is left for ``from_pretrained``."""
        self.model_name = str(model_name_or_path)
        self._meter = UsageMeter()
        self._requested, model_kwargs = RuntimeOptions.split(kwargs)
        o = self._requested
        self.runtime = resolve_runtime(o.device, o.dtype, o.attn_implementation, o.device_map)
        if o.quantization is not None and "quantization_config" in model_kwargs:
            raise ValueError("pass quantization= or quantization_config=, not both (quantization= takes a config)")
        # refused here, before any weights load, when it cannot run on this machine
        self.quantization = quantization_plan(o.quantization, self.runtime.device, self.runtime.dtype,
                                              self.runtime.device_map)
        self._hub_kwargs = hub_kwargs(model_kwargs)
        return model_kwargs

    @property
    def options(self) -> RuntimeOptions:
        """The runtime options in force (the caller's, with the machine's choices filled in)."""
        return self.runner.options

    @property
    def model(self) -> Any:
        """The loaded transformers backbone (for inspection and forward hooks)."""
        return self.runner.model

    max_batch_tokens = _BatchLimit("max_batch_tokens")
    max_batch_size = _BatchLimit("max_batch_size")

    kind = "embedding"  # for the price table (usage.price_for)

    @property
    def usage(self) -> Usage:
        """Requests (calls), items and tokens run so far, summed over every thread (thread-safe).

        Only what ran counts: a call that raised before its first forward pass adds nothing; each forward pass
        adds its rows and their tokens (the batch hook's ``rows`` and ``real_tokens``) to the call they belong to.
        """
        return self._meter.total

    @property
    def last_usage(self) -> Usage:
        """The caller's last call (this thread's, or this asyncio task's: ``await model.aembed(...)`` included)."""
        return self._meter.last

    def reset_usage(self) -> Usage:
        """Return the usage so far and start counting from zero."""
        return self._meter.reset()

    def estimated_cost(self, prices: Mapping[str, float] | None = None) -> float:
        """USD for the tokens so far if hosted: ``prices`` per 1M tokens by model key or kind (the
        specification's table by default: embedding $0.03, reranking $0.05)."""
        return self.usage.cost(price_for(model_key(self.model_name), self.kind, prices))

    @contextlib.contextmanager
    def _metered(self) -> Iterator[list[Encoded]]:
        """One call: collect the sequences the engine runs for it (``Runner.run(ran=...)``) and record their
        usage when the call ends, returned or raised (one request if anything ran; the prompts' tokens, of
        which image / video)."""
        ran: list[Encoded] = []
        try:
            yield ran
        finally:
            image, video = self.runner.image_token_id, self.runner.video_token_id
            tokens = sum(len(e.ids) for e in ran)
            image_tokens = sum(e.ids.count(image) for e in ran) if image is not None else 0
            video_tokens = sum(e.ids.count(video) for e in ran) if video is not None else 0
            self._meter.record(Usage(int(bool(ran)), len(ran), tokens, image_tokens, video_tokens, tokens))

    def on_batch(self, hook: BatchHook) -> Callable[[], None]:
        """Call ``hook(BatchStats)`` after every forward pass (rows, real/padded tokens, seconds).

        Returns a function that removes the hook. For benchmarks, monitoring and tests.
        """
        return self.runner.add_batch_hook(hook)

    def encode(self, items: Sequence[Any], instruction: str | None = None) -> list[Encoded]:
        raise NotImplementedError


class LocalEmbedder(LocalModel, EmbeddingAPI):
    """Unit vectors, one per item, with Matryoshka ``dimensions``; subclasses define ``encode``."""

    hidden_size: int
    dimensions: int | None
    weights_fingerprint: str | None  # of the loaded checkpoint, for ``identity`` (core.checkpoint)

    def _set_dimensions(self, hidden_size: int, dimensions: int | None) -> None:
        """Called once the model is loaded: its sizes, and the fingerprint of the weights it loaded (taken
        now, so a checkpoint overwritten later cannot lend the vectors another identity)."""
        check_dimensions(dimensions, hidden_size)
        self.hidden_size, self.dimensions = hidden_size, dimensions
        folder = checkpoint_folder(self.model_name, self._hub_kwargs)
        self.weights_fingerprint = None if folder is None else weights_fingerprint(folder)

    @property
    def dimension(self) -> int:
        """Length of the vectors ``embed`` returns by default."""
        return self.dimensions or self.hidden_size

    def embed(self, items: Iterable[Any], instruction: str | None = None, dimensions: int | None = None,
              show_progress: bool | None = None, *, precision: Precision = "float32", ranges: Any = None,
              calibration_embeddings: Any = None) -> np.ndarray:
        """Unit vectors (N, D) float32 for N items, in input order, or an ``InputError`` naming a bad item;
        at ``precision`` (``core.precision``) when given, applied after truncation and normalisation."""
        with self._metered() as ran:
            target, encoded = self._checked(items, instruction, dimensions, precision, ranges, calibration_embeddings)
            if not encoded:
                return target.apply(np.zeros((0, dimensions or self.dimension), dtype=np.float32))
            raw = self.runner.run(encoded, pooled, show_progress=show_progress, desc="Embedding", ran=ran.extend)
        return target.apply(truncate_and_normalize(raw, dimensions or self.dimensions))

    def check(self, items: Iterable[Any], instruction: str | None = None, dimensions: int | None = None, *,
              precision: Precision = "float32", ranges: Any = None, calibration_embeddings: Any = None) -> None:
        """Raise what ``embed`` would raise before its first forward pass (an ``InputError`` naming the item,
        a bad ``dimensions`` or precision), doing no model work: for callers that split one call into several."""
        self._checked(items, instruction, dimensions, precision, ranges, calibration_embeddings)

    def _checked(self, items: Iterable[Any], instruction: str | None, dimensions: int | None,
                 precision: Any = "float32", ranges: Any = None,
                 calibration_embeddings: Any = None) -> tuple[VectorPrecision, list[Encoded]]:
        check_dimensions(dimensions, self.hidden_size)
        target = VectorPrecision.resolve(precision, ranges, calibration_embeddings, width=dimensions or self.dimension)
        return target, self.encode(as_list(items, "items"), instruction)


class LocalReranker(LocalModel, ScoringAPI):
    """P(yes) per (query, document) pair; subclasses define ``encode`` and set ``head``."""

    head: RelevanceHead
    kind = "rerank"

    def score_pairs(self, pairs: Iterable[Pair], instruction: str | None = None,
                    show_progress: bool | None = None) -> np.ndarray:
        """P(yes) for many (query, document) pairs at once: float32 (N,), in input order."""
        pairs = as_list(pairs, "pairs")
        with self._metered() as ran:
            return self._score(self.encode(pairs, instruction), ran, show_progress, pairs)

    def _score(self, encoded: Sequence[Encoded], ran: list[Encoded], show_progress: bool | None = None,
               pairs: Sequence[Pair] | None = None) -> np.ndarray:
        """The scores of ``encoded`` (the prompts of ``pairs``) as plain batches; ``ran`` collects what ran."""
        if not encoded:
            return np.zeros(0, dtype=np.float32)
        return self.runner.run(encoded, self.head, show_progress=show_progress, desc="Reranking", ran=ran.extend)
