"""One batch function for every engine that maps batches: a table of items in, ids + vectors + errors out.

``EmbedBatch`` is a callable class: it is cheap to construct and to pickle (it holds only a model
*description*), and it loads the model the first time it is called, so each worker of an engine loads it
once. Ray Data, Spark and Daft all call it the same way:

- Ray Data: ``ds.map_batches(EmbedBatch, fn_constructor_args=(spec,), batch_format="pyarrow", ...)``
- Spark:    ``df.mapInPandas(lambda frames: map(EmbedBatch(spec), frames), schema=OUTPUT_SPARK_SCHEMA)``
- Daft:     a ``@daft.cls(gpus=1)`` class holding one ``EmbedBatch`` whose ``@daft.method.batch`` returns
            ``embed(table)["vector"]`` (Spark and Daft are the documented pattern; Ray Data is what the tests run)

Input columns: ``id`` (required), and any of ``text`` (a string), ``text_file`` (a UTF-8 file read by
the worker), ``image`` and ``video`` (a path, a file:// / data: URI, or the bytes of the file). Output
columns: ``id``, ``vector`` (``fixed_size_list<float32>[d]``, null on a dead-letter row) and ``error``
(null, or why that row could not be embedded). A bad item never fails the batch and never disappears:
it becomes a dead-letter row. The embedding identity rides in the schema metadata
(``IDENTITY_METADATA_KEY``), so files written from these tables say which vector space they hold.

With ``precision=`` (``core.precision``) the vectors are stored at that precision: ``vector`` is a
``fixed_size_list`` of float16 / int8 / uint8 values, or of ``ceil(d / 8)`` int8 / uint8 bytes for binary /
ubinary; the identity carries the precision, and ``PRECISION_METADATA_KEY`` the precision with its int8 /
uint8 ranges (quantize queries with them: ``VectorPrecision.from_dict``).
"""

from __future__ import annotations

import json
import numbers
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..identity import EmbeddingIdentity, model_key
from ..precision import Precision, VectorPrecision
from .errors import BadArgument, JobError
from .pages import PAGE, PDF, page_item

IDENTITY_METADATA_KEY = b"qwen3_vl_rag.embedding_identity"
PRECISION_METADATA_KEY = b"qwen3_vl_rag.precision"  # VectorPrecision.to_dict(): the precision and its ranges
ID, TEXT, TEXT_FILE, IMAGE, VIDEO = "id", "text", "text_file", "image", "video"
INPUT_COLUMNS = (TEXT, TEXT_FILE, IMAGE, VIDEO, PDF)
INPUT_ERROR = "_input_error"  # set by the reader when a row cannot be passed on: the row becomes a dead letter
OUTPUT_SPARK_SCHEMA = "id string, vector array<float>, error string"
MAX_ISOLATION_RETRIES = 3  # InputErrors in one batch before the rest is embedded item by item
# constructor arguments that change where and how fast a model runs, not its vectors' space
RUNTIME_KWARGS = frozenset({"device", "device_map", "dtype", "torch_dtype", "attn_implementation", "max_batch_tokens",
                            "max_batch_size", "show_progress"})


@dataclass(frozen=True)
class ModelSpec:
    """A picklable description of an embedder: ``model`` (hub id or local directory), ``kind``
    (``"vl"`` for Qwen3-VL-Embedding, ``"text"`` for Qwen3-Embedding, ``"auto"`` to read it from the
    checkpoint's ``config.json`` or the name) and constructor ``kwargs`` (``dimensions``, ``device``, ...)."""

    model: str
    kind: str = "auto"
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "vl", "text"):
            raise ValueError(f"kind must be 'auto', 'vl' or 'text', got {self.kind!r}")

    def resolved_kind(self) -> str:
        if self.kind != "auto":
            return self.kind
        config = Path(self.model) / "config.json"
        if config.is_file():
            model_type = json.loads(config.read_text()).get("model_type", "")
            return "vl" if "vl" in model_type else "text"
        key = model_key(self.model)
        return "vl" if "-vl-" in key or key.startswith("qwen3-vl") else "text"

    def config(self) -> dict[str, Any]:
        """The checkpoint's ``config.json``, read without loading weights (a hub id downloads that file
        only): a wrong directory or a mistyped hub id fails here, in a second, with a ``JobError``."""
        local = Path(self.model).expanduser()
        if local.is_dir():
            file = local / "config.json"
            if not file.is_file():
                raise JobError(f"--model {self.model!r} is a directory without config.json, not a model checkpoint; "
                               "give the folder that holds config.json and the weights")
        elif _looks_local(self.model):
            raise JobError(f"--model {self.model!r}: no such directory; give an existing model directory or a hub id")
        else:
            file = _hub_config(self.model, self.kwargs.get("revision"))
        try:
            config: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise JobError(f"--model {self.model!r}: its config.json cannot be read ({exc})") from exc
        return config

    def hidden_size(self) -> int | None:
        """The size of the model's vectors, from ``config.json`` (None when the config does not say)."""
        config = self.config()
        size = (config.get("text_config") or config).get("hidden_size")
        return int(size) if isinstance(size, int) else None

    def build(self) -> Any:
        """Load the embedder (in the worker that calls it)."""
        from .. import Qwen3TextEmbedder, Qwen3VLEmbedder

        cls = Qwen3VLEmbedder if self.resolved_kind() == "vl" else Qwen3TextEmbedder
        return cls(self.model, **dict(self.kwargs))

    def describe(self) -> dict[str, Any]:
        """JSON-ready, for job records: what decides the vectors. Where and how fast the model runs
        (``RUNTIME_KWARGS``) is left out, so a job started on one GPU can be finished on eight."""
        return {"model": self.model, "kind": self.resolved_kind(),
                "kwargs": {k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
                           for k, v in sorted(self.kwargs.items()) if k not in RUNTIME_KWARGS}}


def _looks_local(name: str) -> bool:
    """A path rather than a hub id (``org/name`` or ``name``)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def _hub_config(repo: str, revision: str | None) -> Path:
    """``config.json`` of a hub model (the cache first; never the weights), or a one-line ``JobError``."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo, "config.json", revision=revision))
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line naming the fix
        kinds = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
        if "GatedRepoError" in kinds:
            why = "the repository is gated: accept its licence on huggingface.co and set HF_TOKEN"
        elif kinds & {"RepositoryNotFoundError", "HFValidationError", "RevisionNotFoundError"}:
            why = "not found on the Hugging Face Hub: check the id, or give a local model directory"
        elif kinds & {"LocalEntryNotFoundError", "OfflineModeIsEnabled"} or os.environ.get("HF_HUB_OFFLINE"):
            why = (f"not in the local Hugging Face cache and downloads are off (no network or HF_HUB_OFFLINE=1): "
                   f"download it once with network (`hf download {repo}`) or give a local model directory")
        else:
            why = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
        raise JobError(f"--model {repo!r}: {why}") from exc


ModelFactory = ModelSpec | Callable[[], Any]


def as_model_factory(model: str | ModelFactory, **kwargs: Any) -> ModelFactory:
    """``model`` as a ``ModelSpec`` (a name or directory plus ``kwargs``) or a zero-argument callable."""
    if isinstance(model, (str, os.PathLike)):
        return ModelSpec(str(model), kwargs=kwargs)
    if kwargs:
        raise TypeError(f"model kwargs {sorted(kwargs)} apply only to a model name; put them in the ModelSpec "
                        "or the factory")
    if isinstance(model, ModelSpec) or callable(model):
        return model
    raise TypeError(f"model must be a name, a directory, a ModelSpec or a callable, got {type(model).__name__}")


class EmbedBatch:
    """Embed one batch (a ``pyarrow.Table``, a pandas ``DataFrame`` or a dict of columns) into
    ``id`` / ``vector`` / ``error``; the result has the input's type.

    ``model``: a name or directory (with ``**model_kwargs``), a ``ModelSpec`` or a zero-argument callable
    returning an embedder (anything with ``embed(items, instruction=..., dimensions=...)`` and
    ``identity``). ``dimensions``: Matryoshka size. ``precision``: the stored vectors' precision
    (``core.precision``; int8 / uint8 with ``ranges`` or ``calibration_embeddings``). ``instruction``: embed
    with this instruction (queries); the default is the model's document format. ``keep_columns``: input
    columns copied to the output (e.g. metadata for a vector store). Other columns are ignored.
    """

    def __init__(self, model: str | ModelFactory, *, dimensions: int | None = None, instruction: str | None = None,
                 keep_columns: Sequence[str] = (), precision: Precision = "float32", ranges: Any = None,
                 calibration_embeddings: Any = None, **model_kwargs: Any):
        self.factory = as_model_factory(model, **model_kwargs)
        self.dimensions = positive_int("dimensions", dimensions)
        self.precision = VectorPrecision.resolve(precision, ranges, calibration_embeddings, width=self.dimensions)
        self.instruction = instruction
        self.keep_columns = tuple(keep_columns)
        self._embedder = None

    def __getstate__(self) -> dict[str, Any]:  # ship the description, never loaded weights
        return {**self.__dict__, "_embedder": None}

    @property
    def embedder(self) -> Any:
        """The embedder, loaded on first use (once per worker)."""
        if self._embedder is None:
            self._embedder = self.factory.build() if isinstance(self.factory, ModelSpec) else self.factory()
        return self._embedder

    def preflight(self) -> None:
        """Check the model name and ``dimensions`` from the checkpoint's config, without loading weights (a
        model given as a factory is checked by ``check``)."""
        if isinstance(self.factory, ModelSpec):
            self._check_size(self.factory.hidden_size())

    def check(self) -> None:
        """Load the model and check ``dimensions`` against it: a job calls this before it writes anything."""
        self.preflight()
        try:
            embedder = self.embedder
        except (OSError, ImportError) as exc:
            name = self.factory.model if isinstance(self.factory, ModelSpec) else "the model"
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise JobError(f"--model {name!r} cannot be loaded ({type(exc).__name__}: {first})") from exc
        self._check_size(int(getattr(embedder, "hidden_size", 0) or embedder.identity.dimension))

    def _check_size(self, size: int | None) -> None:
        if size is not None and self.dimensions is not None and self.dimensions > size:
            raise BadArgument(f"--dimensions {self.dimensions} is larger than the model's {size}; give at most {size}")
        ranges = self.precision.ranges
        if size is not None and ranges is not None and ranges.shape[1] != (self.dimensions or size):
            raise BadArgument(f"the {self.precision.name} ranges have shape {ranges.shape} but the vectors have "
                              f"{self.dimensions or size} dimensions; calibrate at the job's --dimensions")

    @property
    def identity(self) -> EmbeddingIdentity:
        """The space of the vectors this job writes: the embedder's, at ``dimensions`` and ``precision``."""
        identity: EmbeddingIdentity = self.embedder.identity
        identity = identity.with_dimension(self.dimensions) if self.dimensions else identity
        return identity.with_precision(self.precision)

    @property
    def preferred_batch_size(self) -> int:
        """Items per call: the embedder's own batch capacity (``max_batch_size``), else 32."""
        return int(getattr(self.embedder, "max_batch_size", 32) or 32)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        if isinstance(batch, pa.Table):
            return self.embed_table(batch)
        if isinstance(batch, Mapping):
            return self.embed_table(pa.table(dict(batch))).to_pydict()
        if type(batch).__module__.startswith("pandas"):
            return self.embed_table(pa.Table.from_pandas(batch, preserve_index=False)).to_pandas()
        raise TypeError(f"expected a pyarrow.Table, a pandas DataFrame or a dict of columns, "
                        f"got {type(batch).__name__}")

    # -- the work ----------------------------------------------------------------------------------
    def embed_table(self, table: Any) -> Any:
        """``table`` (pyarrow) -> a pyarrow table ``id, [keep_columns], vector, error`` with the identity
        in its schema metadata; one output row per input row, in order."""
        import pyarrow as pa

        if ID not in table.column_names:
            raise ValueError(f"the batch has no {ID!r} column (columns: {table.column_names})")
        if not any(c in table.column_names for c in INPUT_COLUMNS):
            raise ValueError(f"the batch has none of the input columns {list(INPUT_COLUMNS)} "
                             f"(columns: {table.column_names})")
        missing = [c for c in self.keep_columns if c not in table.column_names]
        if missing:
            raise ValueError(f"keep_columns {missing} are not in the batch (columns: {table.column_names})")
        identity = self.identity
        rows = table.select([c for c in (*INPUT_COLUMNS, PAGE, INPUT_ERROR) if c in table.column_names]).to_pylist()
        errors: list[str | None] = [None] * len(rows)
        width = self.precision.row_width(identity.dimension)  # ceil(d / 8) bytes for binary / ubinary
        vectors = np.zeros((len(rows), width), dtype=self.precision.dtype)
        with tempfile.TemporaryDirectory(prefix="qwen3-vl-rag-batch-") as scratch:
            items: dict[int, Any] = {}
            for index, row in enumerate(rows):
                try:
                    items[index] = self._item(row, identity, scratch, index)
                except _RowError as exc:
                    errors[index] = str(exc)
            self._embed_isolating(items, vectors, errors)
        dead = pa.array([e is not None for e in errors], type=pa.bool_())
        values = pa.array(vectors.reshape(-1), type=pa.from_numpy_dtype(vectors.dtype))
        vector = pa.FixedSizeListArray.from_arrays(values, width, mask=dead)
        columns = {ID: table.column(ID), **{c: table.column(c) for c in self.keep_columns},
                   "vector": vector, "error": pa.array(errors, type=pa.string())}
        out = pa.table(columns)
        metadata = {IDENTITY_METADATA_KEY: json.dumps(identity.to_dict())}
        if self.precision.name != "float32":
            metadata[PRECISION_METADATA_KEY] = json.dumps(self.precision.to_dict())
        return out.replace_schema_metadata(metadata)

    def _item(self, row: Mapping[str, Any], identity: EmbeddingIdentity, scratch: str, index: int) -> Any:
        """One row as an embedder input (a dict for Qwen3-VL, a string for a text model)."""
        if row.get(INPUT_ERROR) is not None:
            raise _RowError(str(row[INPUT_ERROR]))
        text = row.get(TEXT)
        if row.get(TEXT_FILE) is not None:
            if text is not None:
                raise _RowError("row has both 'text' and 'text_file'; give one")
            try:
                text = Path(_local_path(row[TEXT_FILE])).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise _RowError(f"cannot read text file {row[TEXT_FILE]!r}: {exc}") from exc
        if text is not None and not isinstance(text, str):
            raise _RowError(f"'text' must be a string, got {type(text).__name__}")
        media: dict[str, Any] = {key: row.get(key) for key in (IMAGE, VIDEO) if row.get(key) is not None}
        try:
            page = page_item(row)  # a PDF page, embedded as an image
        except ValueError as exc:
            raise _RowError(str(exc)) from None
        if not text and not media and page is None:
            raise _RowError("row has no text, image or video to embed")
        for key in [*media, *([IMAGE] if page is not None and IMAGE not in media else [])]:
            if key not in identity.modalities:
                raise _RowError(f"row has {'an' if key == IMAGE else 'a'} {key}, but {identity.model} embeds "
                                f"{' and '.join(sorted(identity.modalities))} only")
        if identity.modalities == frozenset({TEXT}):
            return text
        item: dict[str, Any] = {"text": text} if text else {}
        if page is not None:
            item.update(page)
        if IMAGE in media:
            item["image"] = bytes(media[IMAGE]) if isinstance(media[IMAGE], (bytes, bytearray)) else media[IMAGE]
        if VIDEO in media:
            video = media[VIDEO]
            if isinstance(video, (bytes, bytearray)):  # the video readers want a file
                path = Path(scratch, f"video-{index}.mp4")
                path.write_bytes(bytes(video))
                video = str(path)
            item["video"] = video
        return item

    def _embed_isolating(self, items: dict[int, Any], vectors: np.ndarray, errors: list[str | None]) -> None:
        """Embed every item; an ``InputError`` marks its item as a dead letter and the rest is re-embedded
        (item by item after ``MAX_ISOLATION_RETRIES`` bad items in one batch). Other errors propagate: they
        are not about one item (out of memory, a lost device) and the engine retries the batch."""
        pending = list(items)
        for _ in range(MAX_ISOLATION_RETRIES):
            if not pending:
                return
            try:
                vectors[pending] = self._embed([items[i] for i in pending])
                return
            except InputError as exc:
                if not 0 <= exc.index < len(pending):
                    raise
                bad = pending.pop(exc.index)
                errors[bad] = exc.reason
        for i in pending:  # many bad items: isolate each one
            try:
                vectors[i] = self._embed([items[i]])[0]
            except InputError as exc:
                errors[i] = exc.reason

    def _embed(self, items: list[Any]) -> np.ndarray:
        kwargs: dict[str, Any] = {"dimensions": self.dimensions} if self.dimensions else {}
        if self.precision.name != "float32":  # a factory's embedder of the older interface still serves float32
            kwargs["precision"] = self.precision
        out = np.asarray(self.embedder.embed(items, instruction=self.instruction, **kwargs))
        if out.shape[0] != len(items):
            raise RuntimeError(f"the embedder returned {out.shape[0]} vectors for {len(items)} items")
        if self.precision.name == "float32":
            return out.astype(np.float32, copy=False)
        if out.dtype != self.precision.dtype:
            raise RuntimeError(f"the embedder returned {out.dtype} vectors for precision {self.precision.name!r}")
        return out


def positive_int(name: str, value: Any, required: bool = False) -> int | None:
    """``value`` as an ``int`` (any integer type, numpy's included) if it is >= 1 (or None, unless
    ``required``), else a ValueError naming ``name``."""
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class _RowError(ValueError):
    """A row that cannot become an embedder input; it becomes a dead-letter row."""


def _local_path(value: str) -> str:
    return value[len("file://"):] if isinstance(value, str) and value.startswith("file://") else value


def identity_from_schema(schema: Any) -> EmbeddingIdentity:
    """The embedding identity stored in a table's (or a parquet file's) schema metadata."""
    metadata = schema.metadata or {}
    if IDENTITY_METADATA_KEY not in metadata:
        raise ValueError("the schema carries no embedding identity (not written by qwen3-vl-rag)")
    return EmbeddingIdentity.from_dict(json.loads(metadata[IDENTITY_METADATA_KEY]))
