"""``TwoStageIndex``: coarse Matryoshka search + full-size rescoring in one Qdrant query.

Each point holds two named vectors computed from ONE forward pass: ``full`` (what the embedder
returns) and ``coarse`` (its first ``coarse_dimension`` values, renormalised). A search embeds the
query once, prefetches ``candidate_count(k)`` points on ``coarse`` (int8 + HNSW on a server) and lets
Qdrant rescore them on ``full``. The collection's metadata records each vector's embedding identity;
opening it with an embedder of another space raises ``EmbeddingSpaceMismatch``.

Where the data lives: ``location`` is ``":memory:"``, a directory (Qdrant's embedded local mode, the
default for one machine; pure Python, exact search, it ignores quantisation and HNSW) or an
``http(s)://`` URL of a Qdrant server (the scale path; the same code). Collection metadata needs
Qdrant >= 1.16 on a server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ..errors import EmbeddingSpaceMismatch, InputError
from ..identity import SPACE_METADATA_KEY, EmbeddingIdentity, identity_of, space_label
from ..vectors import truncate_and_normalize
from .candidates import DEFAULT_MIN_CANDIDATES, DEFAULT_OVERSAMPLE, candidate_count, default_coarse_dimension
from .layout import Layout

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


def point_id(item_id: Any) -> int | str:
    """Qdrant accepts unsigned ints and UUIDs; any other id (e.g. a LangChain string id) maps to a
    stable UUID5 and the original is kept in the payload."""
    if isinstance(item_id, bool):
        raise TypeError("ids must be ints or strings, not booleans")
    if isinstance(item_id, (int, np.integer)) and item_id >= 0:
        return int(item_id)
    text = str(item_id)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "qwen3-vl-rag:" + text))


def _json_id(item_id: Any) -> int | str:
    return int(item_id) if isinstance(item_id, (int, np.integer)) else str(item_id)


class TwoStageIndex:
    """Store small, rescore large: a two-stage Matryoshka index over a Qdrant collection.

    ``embedder`` is any core embedder (local, remote or fallback): ``embed_documents``,
    ``embed_queries``, ``.dimension``, ``.identity``. Vectors are stored at the embedder's size
    (``full``) and at ``coarse_dimension`` (default: 1024, or half of smaller vectors; an existing
    collection's own size when opening one). ``oversample`` and ``min_candidates`` set the candidate
    rule (:func:`candidate_count`); ``hnsw_ef`` the coarse HNSW beam (raised to the candidate count).
    ``layout_options`` (``quantization``, ``coarse_datatype``, ``full_datatype``, ``coarse_on_disk``,
    ``full_on_disk``, ``hnsw_m``, ``hnsw_ef_construct``; defaults in :class:`Layout`) apply when the
    collection is created; opening an existing one with a different value is refused.
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
        self.collection_name = collection_name
        self.oversample, self.min_candidates, self.hnsw_ef = float(oversample), int(min_candidates), int(hnsw_ef)
        self.query_instruction = query_instruction
        unknown = sorted(set(layout_options) - set(LAYOUT_OPTIONS))
        if unknown:
            raise TypeError(f"unknown option(s) {unknown}; layout options are {list(LAYOUT_OPTIONS)}")
        if self.client.collection_exists(collection_name):
            self.layout = self._open(coarse_dimension, full_dimension)
            differing = {k: v for k, v in layout_options.items() if getattr(self.layout, k) != v}
            if differing:
                raise ValueError(f"collection {collection_name!r} exists with another layout "
                                 f"({ {k: getattr(self.layout, k) for k in differing} }); layout options apply "
                                 "only when a collection is created: drop them or use a new collection_name")
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
        quantization = None
        if layout.quantization == "int8":
            quantization = models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True))
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
        self.client.create_collection(self.collection_name, vectors_config=vectors, metadata=self._stamp())

    def _open(self, coarse_dimension: int | None, full_dimension: int) -> Layout:
        """Read an existing collection's stamp; refuse a foreign collection or another embedder's space."""
        info = self.client.get_collection(self.collection_name)
        stamp = (info.config.metadata or {}).get(METADATA_KEY)
        if not isinstance(stamp, Mapping) or stamp.get("format") != FORMAT_VERSION:
            raise ValueError(f"collection {self.collection_name!r} exists but was not created by TwoStageIndex "
                             f"(no {METADATA_KEY!r} format-{FORMAT_VERSION} stamp in its metadata); pick another "
                             "collection_name")
        stored_full = EmbeddingIdentity.from_dict(stamp["vectors"][FULL])
        stored_coarse = EmbeddingIdentity.from_dict(stamp["vectors"][COARSE])
        if stored_full.space != self.identity.space:
            raise EmbeddingSpaceMismatch(
                f"collection {self.collection_name!r} holds vectors from {stored_full}; this embedder writes "
                f"{self.identity}. Their similarities would be meaningless: use the collection's embedder or "
                "a new collection_name.")
        if coarse_dimension is not None and coarse_dimension != stored_coarse.dimension:
            raise ValueError(f"collection {self.collection_name!r} was built with coarse_dimension="
                             f"{stored_coarse.dimension}, not {coarse_dimension}; pass coarse_dimension=None to "
                             "use it")
        vectors = info.config.params.vectors
        if not isinstance(vectors, Mapping) or set(vectors) != {COARSE, FULL} or \
                (vectors[COARSE].size, vectors[FULL].size) != (stored_coarse.dimension, full_dimension):
            raise ValueError(f"collection {self.collection_name!r}: its vectors do not match its stamp "
                             f"({COARSE} {stored_coarse.dimension}-d, {FULL} {full_dimension}-d)")
        return Layout(**stamp["layout"])

    def bytes_per_item(self) -> dict[str, int]:
        """RAM / disk bytes per item of this layout (see :meth:`Layout.bytes_per_item`)."""
        return self.layout.bytes_per_item()

    def __len__(self) -> int:
        return int(self.client.count(self.collection_name, exact=True).count)

    def close(self) -> None:
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
        as given (filterable in Qdrant), plus ``embedding_space``. Returns the ids, in order.
        """
        items = list(items)
        ids, payloads = self._check_rows(len(items), ids, payloads)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        for start in range(0, len(items), batch_size):
            batch = items[start:start + batch_size]
            vectors = self._embed(batch, start)
            self._upsert(vectors, ids[start:start + batch_size], payloads[start:start + batch_size], start)
        return ids

    def add_vectors(self, vectors: Any, ids: Sequence[Any] | None = None,
                    payloads: Sequence[Mapping[str, Any] | None] | None = None) -> list[Any]:
        """Store precomputed full-size vectors of THIS embedder (e.g. from an ingestion pipeline)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array (items x {self.layout.full_dimension}), got shape "
                             f"{vectors.shape}")
        ids, payloads = self._check_rows(len(vectors), ids, payloads)
        self._upsert(self._check_vectors(vectors, len(vectors), 0), ids, payloads, 0)
        return ids

    def delete(self, ids: Iterable[Any]) -> None:
        _, models = _qdrant()
        self.client.delete(self.collection_name, points_selector=models.PointIdsList(
            points=[point_id(i) for i in ids]))

    def _check_rows(self, n: int, ids: Sequence[Any] | None,
                    payloads: Sequence[Any] | None) -> tuple[list[Any], list[Any]]:
        ids = [str(uuid.uuid4()) for _ in range(n)] if ids is None else list(ids)
        payloads = [None] * n if payloads is None else list(payloads)
        if len(ids) != n or len(payloads) != n:
            raise ValueError(f"got {n} items, {len(ids)} ids and {len(payloads)} payloads: one of each per item")
        seen: dict[Any, int] = {}
        for index, item_id in enumerate(ids):
            key = point_id(item_id)
            if key in seen:
                raise InputError(index, f"id {item_id!r} repeats the id of item {seen[key]}")
            seen[key] = index
        for index, payload in enumerate(payloads):
            if payload is not None and not isinstance(payload, Mapping):
                raise InputError(index, f"payload must be a mapping or None, got {type(payload).__name__}")
            clash = ID_KEY if payload and ID_KEY in payload else None
            if payload and payload.get(SPACE_METADATA_KEY, self.space_label) != self.space_label:
                clash = SPACE_METADATA_KEY
            if clash:
                raise InputError(index, f"payload key {clash!r} is reserved (value {payload[clash]!r}); "
                                        f"this index stamps {SPACE_METADATA_KEY}={self.space_label!r}")
        return ids, payloads

    def _embed(self, items: list[Any], offset: int) -> np.ndarray:
        vectors = np.asarray(self.embedder.embed_documents(items), dtype=np.float32)
        return self._check_vectors(vectors, len(items), offset)

    def _check_vectors(self, vectors: np.ndarray, n: int, offset: int) -> np.ndarray:
        if vectors.shape != (n, self.layout.full_dimension):
            raise ValueError(f"expected {n} vectors of {self.layout.full_dimension} dimensions, got shape "
                             f"{vectors.shape}")
        bad = ~np.isfinite(vectors).all(axis=1) | (np.linalg.norm(vectors, axis=1) == 0)
        if bad.any():
            raise InputError(offset + int(np.argmax(bad)), "its vector is zero or not finite")
        return vectors

    def _upsert(self, full: np.ndarray, ids: list[Any], payloads: list[Any], offset: int) -> None:
        _, models = _qdrant()
        full = truncate_and_normalize(full, None)
        coarse = truncate_and_normalize(full, self.layout.coarse_dimension)  # the MRL prefix: no second pass
        label = self.space_label
        points = [
            models.PointStruct(
                id=point_id(item_id), vector={COARSE: c.tolist(), FULL: f.tolist()},
                payload={**(payload or {}), ID_KEY: _json_id(item_id), SPACE_METADATA_KEY: label})
            for item_id, c, f, payload in zip(ids, coarse, full, payloads)
        ]
        if points:
            self.client.upsert(self.collection_name, points=points, wait=True)

    # -- searching -----------------------------------------------------------------------------------------
    def candidates_for(self, k: int) -> int:
        """The candidate count this index uses for the top ``k`` (the documented rule)."""
        return candidate_count(k, self.oversample, self.min_candidates)

    def search(self, query: Any, k: int = 10, *, candidates: int | None = None, query_filter: Any = None) -> list[Hit]:
        """The ``k`` best items for one query (a core item: text, image, dict), best first.

        The query is embedded once with ``embed_queries`` (``query_instruction`` if set); ``candidates``
        overrides the rule; ``query_filter`` is a ``qdrant_client.models.Filter`` on the payloads.
        """
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
                             f"{vector.shape[1]}")
        limit = self.candidates_for(k) if candidates is None else int(candidates)
        if limit < k:
            raise ValueError(f"candidates ({limit}) must be >= k ({k})")
        full = truncate_and_normalize(vector, None)[0]
        coarse = truncate_and_normalize(vector, self.layout.coarse_dimension)[0]
        params = models.SearchParams(hnsw_ef=max(self.hnsw_ef, limit),
                                     quantization=models.QuantizationSearchParams(rescore=False))
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
