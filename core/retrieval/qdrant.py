"""``TwoStageIndex``: coarse Matryoshka search + full-size rescoring in one Qdrant query.

Each point holds two named vectors computed from ONE forward pass: ``full`` (what the embedder
returns) and ``coarse`` (its first ``coarse_dimension`` values, renormalised). A search embeds the
query once, prefetches ``candidate_count(k)`` points on ``coarse`` (int8 + HNSW on a server) and lets
Qdrant rescore them on ``full``. The collection's metadata records each vector's embedding identity;
opening it with an embedder of another space raises ``EmbeddingSpaceMismatch``.

Where the data lives: ``location`` is ``":memory:"``, a directory (Qdrant's embedded local mode, the
default for one machine; pure Python, exact search, it ignores quantisation and HNSW) or an
``http(s)://`` URL of a Qdrant server (the scale path; the same code). Collection metadata needs
Qdrant >= 1.16 on a server. The embedded mode is not thread-safe (concurrent writes lose points): the
index serialises its calls to it, while embedding runs outside that lock; a server needs no lock.

``add`` checks the whole call (ids, payloads: ``rows``), embeds every item and checks every vector
before the first write, so a bad item stores nothing and its ``InputError`` names its position in the
call. Only a storage failure part-way (a server going away, the process killed) can leave a call's
first points written; each point is whole, and the same call run again (with the same ids) completes it.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ..errors import EmbeddingSpaceMismatch, InputError
from ..identity import SPACE_METADATA_KEY, EmbeddingIdentity, identity_of, same_space_labels, space_label
from .candidates import DEFAULT_MIN_CANDIDATES, DEFAULT_OVERSAMPLE, candidate_count, default_coarse_dimension
from .layout import Layout, check_quantization
from .rows import check_ids, json_payload, payload_bytes, point_id  # noqa: F401 - point_id: part of this module's API

COARSE = "coarse"
FULL = "full"
METADATA_KEY = "qwen3_vl_rag"  # collection metadata: {"qwen3_vl_rag": {"format": 1, "vectors": {...}, ...}}
FORMAT_VERSION = 1
ID_KEY = "qwen3_vl_rag_id"  # payload key holding the caller's id (Qdrant ids must be ints or UUIDs)
RESERVED_PAYLOAD_KEYS = (ID_KEY, SPACE_METADATA_KEY)
DEFAULT_COLLECTION = "qwen3_vl_rag"
DEFAULT_HNSW_EF = 128
LAYOUT_OPTIONS = ("quantization", "coarse_datatype", "full_datatype", "coarse_on_disk", "full_on_disk", "hnsw_m",
                  "hnsw_ef_construct")
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # per write request; a Qdrant server refuses more than 32 MB by default
LOOKUP_CHUNK = 1024  # ids per retrieve when checking stored ids


@dataclass(frozen=True)
class Hit:
    """One search result: the caller's ``id``, the full-dimension cosine ``score`` and the ``payload``
    given at ``add`` time (plus ``embedding_space``, the label of the vectors' space)."""

    id: Any
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


def _qdrant() -> tuple[Any, Any]:
    try:
        from qdrant_client import QdrantClient, models
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('TwoStageIndex needs qdrant-client: pip install "qwen3-vl-rag[qdrant]"') from exc
    return QdrantClient, models


def make_client(location: str, api_key: Any = None) -> Any:
    """A ``QdrantClient`` for ``":memory:"``, an ``http(s)://`` server URL or a local directory."""
    QdrantClient, _ = _qdrant()
    location = str(location)
    if location.startswith(("http://", "https://")):
        secret = api_key.get_secret_value() if hasattr(api_key, "get_secret_value") else api_key
        return QdrantClient(url=location, api_key=secret)
    if api_key is not None:
        raise ValueError("api_key is only used with a Qdrant server URL (http:// or https://), not with "
                         f"the embedded location {location!r}")
    if location == ":memory:":
        return QdrantClient(location=":memory:")
    return QdrantClient(path=location)


def unit_rows(vectors: np.ndarray, dimensions: int | None = None) -> np.ndarray:
    """The first ``dimensions`` values of each row, L2-normalised in float64 (float32 squares of 1e30
    overflow and of 1e-30 underflow, which would store zeros or non-unit vectors); float32 out."""
    rows = np.asarray(vectors, dtype=np.float64)[:, :dimensions]
    return cast(np.ndarray, (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32))


_CLIENT_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_CLIENT_LOCKS_LOCK = threading.Lock()


def client_lock(client: Any) -> Any:
    """One lock per embedded client (``:memory:`` or a directory: Qdrant's local mode is not thread-safe,
    concurrent writes lose points), shared by every index over it; a server's client needs none."""
    if type(getattr(client, "_client", None)).__name__ != "QdrantLocal":
        return contextlib.nullcontext()
    with _CLIENT_LOCKS_LOCK:
        return _CLIENT_LOCKS.setdefault(client, threading.RLock())


class TwoStageIndex:
    """Store small, rescore large: a two-stage Matryoshka index over a Qdrant collection.

    ``embedder`` is any core embedder (local, remote or fallback): ``embed_documents``,
    ``embed_queries``, ``.dimension``, ``.identity``. Vectors are stored at the embedder's size
    (``full``) and at ``coarse_dimension`` (default: 1024, or half of smaller vectors; an existing
    collection's own size when opening one). ``oversample`` and ``min_candidates`` set the candidate
    rule (:func:`candidate_count`); ``hnsw_ef`` the coarse HNSW beam (raised to the candidate count).
    ``layout_options`` (``quantization``: the coarse stage, ``"int8"``, ``"binary"`` or ``None``;
    ``coarse_datatype``, ``full_datatype``, ``coarse_on_disk``, ``full_on_disk``, ``hnsw_m``,
    ``hnsw_ef_construct``; defaults in :class:`Layout`) apply when the collection is created; opening an
    existing one without them uses the stored ones, with a different value is refused.
    """

    def __init__(
        self,
        embedder: Any,
        location: str | None = None,
        *,
        collection_name: str = DEFAULT_COLLECTION,
        client: Any = None,
        api_key: Any = None,
        coarse_dimension: int | None = None,
        hnsw_ef: int = DEFAULT_HNSW_EF,
        oversample: float = DEFAULT_OVERSAMPLE,
        min_candidates: int = DEFAULT_MIN_CANDIDATES,
        query_instruction: str | None = None,
        **layout_options: Any,
    ) -> None:
        if (client is None) == (location is None):
            raise ValueError('pass exactly one of location= (":memory:", a directory or a server URL) and client=')
        if client is not None and api_key is not None:
            raise ValueError("api_key is used only with location=<server URL>; configure client= yourself")
        candidate_count(1, oversample, min_candidates)  # validates the rule's parameters
        if hnsw_ef < 1:
            raise ValueError(f"hnsw_ef must be positive, got {hnsw_ef}")
        self.embedder = embedder
        self.identity: EmbeddingIdentity = identity_of(embedder)
        full_dimension = int(embedder.dimension)
        if full_dimension != self.identity.dimension:
            raise ValueError(f"the embedder's dimension ({full_dimension}) differs from its identity's "
                             f"({self.identity.dimension})")
        self.client = client if client is not None else make_client(cast(str, location), api_key)
        self._lock = client_lock(self.client)
        self.collection_name = collection_name
        self.oversample, self.min_candidates, self.hnsw_ef = float(oversample), int(min_candidates), int(hnsw_ef)
        self.query_instruction = query_instruction
        unknown = sorted(set(layout_options) - set(LAYOUT_OPTIONS))
        if unknown:
            raise TypeError(f"unknown option(s) {unknown}; layout options are {list(LAYOUT_OPTIONS)}")
        if "quantization" in layout_options:
            check_quantization(layout_options["quantization"])
        with self._lock:
            exists = self.client.collection_exists(collection_name)
        if exists:
            self.layout = self._open(coarse_dimension, full_dimension)
            differing = {k: v for k, v in layout_options.items() if getattr(self.layout, k) != v}
            if differing:
                stored = ", ".join(f"{k}={getattr(self.layout, k)!r}" for k in differing)
                asked = ", ".join(f"{k}={v!r}" for k, v in differing.items())
                raise ValueError(f"collection {collection_name!r} exists with another layout ({stored}; you asked "
                                 f"for {asked}); layout options apply only when a collection is created: drop "
                                 "them to use the stored ones, or use a new collection_name")
        else:
            self.layout = Layout(coarse_dimension or default_coarse_dimension(full_dimension), full_dimension,
                                 **layout_options)
            self._create()

    # -- identities ----------------------------------------------------------------------------------
    @property
    def coarse_identity(self) -> EmbeddingIdentity:
        return self.identity.with_dimension(self.layout.coarse_dimension)

    @property
    def space_label(self) -> str:
        """The ``embedding_space`` label stamped on every stored item (the full vectors' space)."""
        return space_label(self.identity)

    def _stamp(self) -> dict[str, Any]:
        return {METADATA_KEY: {"format": FORMAT_VERSION,
                               "vectors": {COARSE: self.coarse_identity.to_dict(), FULL: self.identity.to_dict()},
                               "layout": self.layout.to_dict()}}

    # -- collection --------------------------------------------------------------------------------------
    def _create(self) -> None:
        _, models = _qdrant()
        layout = self.layout
        quantization: Any = None
        if layout.quantization == "int8":
            quantization = models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True))
        elif layout.quantization == "binary":  # stored 1 bit per dim, the query in 8 bits (Qdrant >= 1.15)
            quantization = models.BinaryQuantization(binary=models.BinaryQuantizationConfig(
                always_ram=True, encoding=models.BinaryQuantizationEncoding.ONE_BIT,
                query_encoding=models.BinaryQuantizationQueryEncoding.SCALAR8BITS))
        datatype = {"float32": models.Datatype.FLOAT32, "float16": models.Datatype.FLOAT16}
        vectors = {
            COARSE: models.VectorParams(
                size=layout.coarse_dimension, distance=models.Distance.COSINE, on_disk=layout.coarse_on_disk,
                datatype=datatype[layout.coarse_datatype], quantization_config=quantization,
                hnsw_config=models.HnswConfigDiff(m=layout.hnsw_m, ef_construct=layout.hnsw_ef_construct)),
            FULL: models.VectorParams(
                size=layout.full_dimension, distance=models.Distance.COSINE, on_disk=layout.full_on_disk,
                datatype=datatype[layout.full_datatype], hnsw_config=models.HnswConfigDiff(m=0)),
        }
        with self._lock:
            self.client.create_collection(self.collection_name, vectors_config=vectors, metadata=self._stamp())

    def _open(self, coarse_dimension: int | None, full_dimension: int) -> Layout:
        """Read an existing collection's stamp; refuse a foreign collection or another embedder's space."""
        with self._lock:
            info = self.client.get_collection(self.collection_name)
        stamp = (info.config.metadata or {}).get(METADATA_KEY)
        if not isinstance(stamp, Mapping) or stamp.get("format") != FORMAT_VERSION:
            raise ValueError(f"collection {self.collection_name!r} exists but was not created by TwoStageIndex "
                             f"(no {METADATA_KEY!r} format-{FORMAT_VERSION} stamp in its metadata); pick another "
                             "collection_name")
        try:
            stored_full = EmbeddingIdentity.from_dict(stamp["vectors"][FULL])
            stored_coarse = EmbeddingIdentity.from_dict(stamp["vectors"][COARSE])
            stored_layout = Layout(**stamp["layout"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"collection {self.collection_name!r} has a damaged {METADATA_KEY!r} stamp "
                             f"({type(exc).__name__}: {exc}); pick another collection_name") from None
        differences = stored_full.differences(self.identity)
        if differences:
            raise EmbeddingSpaceMismatch(
                f"collection {self.collection_name!r} holds vectors from {stored_full}; this embedder writes "
                f"{self.identity} (different {' and '.join(differences)}). Their similarities would be "
                "meaningless: use the collection's embedder or a new collection_name.")
        if coarse_dimension is not None and coarse_dimension != stored_coarse.dimension:
            raise ValueError(f"collection {self.collection_name!r} was built with coarse_dimension="
                             f"{stored_coarse.dimension}, not {coarse_dimension}; pass coarse_dimension=None to "
                             "use it")
        vectors = info.config.params.vectors
        if not isinstance(vectors, Mapping) or set(vectors) != {COARSE, FULL} or \
                (vectors[COARSE].size, vectors[FULL].size) != (stored_coarse.dimension, full_dimension):
            raise ValueError(f"collection {self.collection_name!r}: its vectors do not match its stamp "
                             f"({COARSE} {stored_coarse.dimension}-d, {FULL} {full_dimension}-d)")
        return stored_layout

    def bytes_per_item(self) -> dict[str, int]:
        """RAM / disk bytes per item of this layout (see :meth:`Layout.bytes_per_item`)."""
        return self.layout.bytes_per_item()

    def __len__(self) -> int:
        with self._lock:
            return int(self.client.count(self.collection_name, exact=True).count)

    def close(self) -> None:
        with self._lock:
            self.client.close()

    def __enter__(self) -> TwoStageIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------------------
    def add(self, items: Sequence[Any], ids: Sequence[Any] | None = None,
            payloads: Sequence[Mapping[str, Any] | None] | None = None, *, batch_size: int = 64) -> list[Any]:
        """Embed ``items`` (core items: text, images, dicts) once at full size and store both vectors.

        ``ids`` default to new UUID strings; an existing id is overwritten. ``payloads`` are stored
        as given (filterable in Qdrant; numpy values as Python values), plus ``embedding_space``.
        The whole call is checked and embedded before the first write (a bad item stores nothing and
        its ``InputError`` gives its position in this call); ``batch_size`` is the points per write
        request. The call's vectors are held until written (16 KB per item at 4096-d): ingest millions
        in several calls, or with the bulk job and ``add_vectors``. Returns the ids, in order, as stored
        (numpy ints as ``int``, ``uuid.UUID`` as ``str``).
        """
        items = list(items)
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        rows = self._check_rows(len(items), ids, payloads)
        self._check_space()
        vectors = np.asarray(self.embedder.embed_documents(items), dtype=np.float32)
        self._write(self._check_vectors(vectors, len(items)), rows, int(batch_size))
        return rows[0]

    def add_vectors(self, vectors: Any, ids: Sequence[Any] | None = None,
                    payloads: Sequence[Mapping[str, Any] | None] | None = None, *, batch_size: int = 64) -> list[Any]:
        """Store precomputed full-size vectors of THIS embedder (e.g. from an ingestion pipeline)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array (items x {self.layout.full_dimension}), got shape "
                             f"{vectors.shape}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        rows = self._check_rows(len(vectors), ids, payloads)
        self._write(self._check_vectors(vectors, len(vectors)), rows, int(batch_size))
        return rows[0]

    def delete(self, ids: Iterable[Any]) -> None:
        """Delete the points of ``ids`` (absent ones are ignored)."""
        _, models = _qdrant()
        values, points = check_ids(list(ids))
        with self._lock:
            self._check_stored_ids(values, points)
            self.client.delete(self.collection_name, points_selector=models.PointIdsList(points=points), wait=True)

    def _check_space(self) -> None:
        """The embedder must still write into this collection's space (e.g. a fallback that switched)."""
        current = identity_of(self.embedder)
        differences = current.differences(self.identity)
        if differences:
            raise EmbeddingSpaceMismatch(f"the embedder now writes {current}, collection "
                                         f"{self.collection_name!r} holds {self.identity} (different "
                                         f"{' and '.join(differences)})")

    def _check_rows(self, n: int, ids: Sequence[Any] | None,
                    payloads: Sequence[Any] | None) -> tuple[list[Any], list[Any], list[dict[str, Any]]]:
        """(caller ids, point ids, JSON payloads with the index's stamps), or the first bad row's error."""
        ids = [str(uuid.uuid4()) for _ in range(n)] if ids is None else list(ids)
        payloads = [None] * n if payloads is None else list(payloads)
        if len(ids) != n or len(payloads) != n:
            raise ValueError(f"got {n} items, {len(ids)} ids and {len(payloads)} payloads: one of each per item")
        values, points = check_ids(ids)
        label, out = self.space_label, []
        for index, (value, payload) in enumerate(zip(values, payloads)):
            try:
                data = json_payload(payload)
            except ValueError as exc:
                raise InputError(index, str(exc)) from None
            clash = ID_KEY if ID_KEY in data else None
            if not same_space_labels(str(data.get(SPACE_METADATA_KEY, label)), label):
                clash = SPACE_METADATA_KEY
            if clash:
                raise InputError(index, f"payload key {clash!r} is reserved (value {data[clash]!r:.120}); "
                                        f"this index stamps {SPACE_METADATA_KEY}={label!r}")
            out.append({**data, ID_KEY: value, SPACE_METADATA_KEY: label})
        return values, points, out

    def _check_vectors(self, vectors: np.ndarray, n: int) -> np.ndarray:
        """Full-size vectors, finite, with a non-zero coarse prefix; ``InputError`` names the row."""
        if vectors.shape != (n, self.layout.full_dimension):
            raise ValueError(f"expected {n} vectors of {self.layout.full_dimension} dimensions, got shape "
                             f"{vectors.shape}")
        finite = np.isfinite(vectors).all(axis=1)
        prefix = np.where(finite[:, None], vectors[:, :self.layout.coarse_dimension], 0)
        bad = ~finite | (np.linalg.norm(prefix.astype(np.float64), axis=1) == 0)
        if bad.any():
            row = int(np.argmax(bad))
            reason = "its vector is not finite" if not finite[row] else (
                "its vector is zero" if not vectors[row].any() else
                f"its first {self.layout.coarse_dimension} values (the coarse vector) are all zero")
            raise InputError(row, reason)
        return vectors

    def _check_stored_ids(self, values: list[Any], points: list[Any]) -> None:
        """Refuse an id stored as the same point as ANOTHER id (e.g. two spellings of one UUID)."""
        wanted = dict(zip(points, enumerate(values)))
        for start in range(0, len(points), LOOKUP_CHUNK):
            found = self.client.retrieve(self.collection_name, ids=points[start:start + LOOKUP_CHUNK],
                                         with_payload=[ID_KEY], with_vectors=False)
            for point in found:
                stored = (point.payload or {}).get(ID_KEY, point.id)
                index, value = wanted[point.id]
                if stored != value:
                    raise InputError(index, f"id {value!r:.80} is stored as Qdrant point {point.id}, which holds "
                                            f"the id {stored!r:.80}: the two ids would overwrite each other")

    def _write(self, full: np.ndarray, rows: tuple[list[Any], list[Any], list[dict[str, Any]]],
               batch_size: int) -> None:
        _, models = _qdrant()
        values, points, payloads = rows
        coarse = unit_rows(full, self.layout.coarse_dimension)  # the MRL prefix: no second pass
        full = unit_rows(full)
        with self._lock:
            self._check_stored_ids(values, points)
            for chunk in self._chunks(payloads, batch_size):
                self.client.upsert(self.collection_name, wait=True, points=[
                    models.PointStruct(id=points[i], vector={COARSE: coarse[i].tolist(), FULL: full[i].tolist()},
                                       payload=payloads[i]) for i in chunk])

    def _chunks(self, payloads: list[dict[str, Any]], batch_size: int) -> Iterator[range]:
        """Row ranges of at most ``batch_size`` points and about ``MAX_REQUEST_BYTES`` of JSON each."""
        vector_bytes = 12 * (self.layout.full_dimension + self.layout.coarse_dimension)  # floats as JSON text
        start, size = 0, 0
        for i, payload in enumerate(payloads):
            row = vector_bytes + payload_bytes(payload)
            if i > start and (i - start >= batch_size or size + row > MAX_REQUEST_BYTES):
                yield range(start, i)
                start, size = i, 0
            size += row
        if start < len(payloads):
            yield range(start, len(payloads))

    # -- searching -----------------------------------------------------------------------------------------
    def candidates_for(self, k: int) -> int:
        """The candidate count this index uses for the top ``k`` (the documented rule)."""
        return candidate_count(k, self.oversample, self.min_candidates)

    def search(self, query: Any, k: int = 10, *, candidates: int | None = None, query_filter: Any = None) -> list[Hit]:
        """The ``k`` best items for one query (a core item: text, image, dict), best first.

        The query is embedded once with ``embed_queries`` (``query_instruction`` if set); ``candidates``
        overrides the rule; ``query_filter`` is a ``qdrant_client.models.Filter`` on the payloads.
        """
        self._check_space()
        vectors = self.embedder.embed_queries([query], instruction=self.query_instruction)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (1, self.layout.full_dimension):
            raise ValueError(f"the embedder returned shape {vectors.shape} for one query, expected "
                             f"(1, {self.layout.full_dimension})")
        return self.search_vector(vectors[0], k, candidates=candidates, query_filter=query_filter)

    def search_vector(self, vector: Any, k: int = 10, *, candidates: int | None = None,
                      query_filter: Any = None) -> list[Hit]:
        """Like :meth:`search` for a full-size query vector of this embedder's space."""
        _, models = _qdrant()
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if vector.shape[1] != self.layout.full_dimension or not np.isfinite(vector).all():
            raise ValueError(f"the query vector must be {self.layout.full_dimension} finite values, got "
                             f"{vector.shape[1]}" + ("" if np.isfinite(vector).all() else " with NaN or infinity"))
        if not vector[0, :self.layout.coarse_dimension].any():
            raise ValueError("the query vector is zero" if not vector.any() else
                             f"the query vector's first {self.layout.coarse_dimension} values (its coarse "
                             "vector) are all zero: it has no direction to search")
        limit = self.candidates_for(k) if candidates is None else candidates
        if isinstance(limit, bool) or int(limit) != limit or limit < k:
            raise ValueError(f"candidates must be an integer >= k ({k}), got {limit!r}")
        limit = int(limit)
        full = unit_rows(vector)[0]
        coarse = unit_rows(vector, self.layout.coarse_dimension)[0]
        # The candidate count is the oversampling: ``limit`` points by their quantised coarse score, rescored
        # by the outer query on the full vectors. Qdrant's own rescore (and its ``oversampling``) would
        # re-rank them first on the coarse originals, read from disk for nothing.
        params = models.SearchParams(hnsw_ef=max(self.hnsw_ef, limit),
                                     quantization=models.QuantizationSearchParams(rescore=False))
        with self._lock:
            response = self.client.query_points(
                self.collection_name,
                prefetch=models.Prefetch(query=coarse.tolist(), using=COARSE, limit=limit, params=params,
                                         filter=query_filter),
                query=full.tolist(), using=FULL, limit=k, query_filter=query_filter, with_payload=True)
        return [self._hit(point) for point in response.points]

    @staticmethod
    def _hit(point: Any) -> Hit:
        payload = dict(point.payload or {})
        item_id = payload.pop(ID_KEY, point.id)
        return Hit(id=item_id, score=float(point.score), payload=payload)
