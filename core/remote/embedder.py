"""RemoteEmbedder: the ``Qwen3VLEmbedder`` interface over an OpenAI-compatible ``/embeddings`` endpoint.

Two wire protocols, chosen explicitly or from the model name:

- ``"openai"``: ``{"model", "input": [texts]}``, many texts per request (chunks of ``batch_size``). For
  text embedding servers (OpenRouter, TEI, vLLM serving Qwen3-Embedding). Queries get the official
  Qwen3-Embedding prefix ``Instruct: {task}\\nQuery:{text}``; documents are sent raw. Text only.
- ``"vllm-chat"``: vLLM's chat form, one request per item (sent concurrently, bounded): a system turn
  with the instruction and a user turn with the item's video / image / text parts in the official order,
  ``add_generation_prompt: true``. With the Qwen3-VL-Embedding models this gives the local
  ``Qwen3VLEmbedder`` vectors (same prompt, same pooled token, same pixels: images are resized here
  with the official smart_resize and sent as PNG). Video files are sent whole and sampled by the server,
  which is not guaranteed to pick the frames the local path picks; frame lists are refused.

``dimensions`` is sent to the server; if the server refuses it (a 400 naming dimensions / matryoshka),
the vectors are truncated and renormalised here instead, and later calls skip the parameter.

Every answer is checked as the local models' output is: N vectors for N items, each finite, not zero,
and of the model's size (``native_dimensions=``, the released models' known sizes, or the first answer's), or of
the requested ``dimensions``. Anything else is a ``RemoteResponseError`` naming the item; the model's
size never changes once known, so ``identity`` cannot drift to what a broken server sent.

``precision=`` (``core.precision``) is applied here, on the client, after truncation and normalisation: the
server always sends floats.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..api import EmbeddingAPI, as_list
from ..formats import defaults as C
from ..formats.chat import normalize_instruction
from ..formats.embedding import text_query_prompt
from ..identity import EmbeddingIdentity, model_key
from ..inputs import Item, ItemInput, check_instruction, parse_items
from ..media import MediaOptions
from ..precision import Precision, VectorPrecision
from ..usage import Usage
from ..vectors import check_dimensions, truncate_and_normalize
from .client import DEFAULT_API_KEY_ENV, DEFAULT_DEADLINE_S, RemoteClient
from .errors import RemoteError, RemoteResponseError
from .payloads import content_parts, parse_embeddings, plain_text

logger = logging.getLogger(__name__)

Protocol = Literal["openai", "vllm-chat"]
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"

# Native sizes of the released models (so ``dimension`` needs no request for them).
KNOWN_DIMENSIONS = {
    "qwen3-vl-embedding-2b": 2048,
    "qwen3-vl-embedding-8b": 4096,
    "qwen3-embedding-0.6b": 1024,
    "qwen3-embedding-4b": 2560,
    "qwen3-embedding-8b": 4096,
}
_REFUSED_DIMENSIONS = re.compile(r"dimension|matryoshka", re.IGNORECASE)


def default_protocol(model: str) -> Protocol:
    """``vllm-chat`` for Qwen3-VL models (images and instructions need the chat form), else ``openai``."""
    name = model_key(model)
    return "vllm-chat" if "-vl" in name or name.startswith("vl") else "openai"


@dataclass
class _Request:
    payload: dict[str, Any]
    rows: list[int]  # output rows, in the order of the request's inputs


class RemoteEmbedder(EmbeddingAPI):
    """Embeddings from a server, with the local embedders' interface (``embed``, ``embed_queries``, ...).

    ``model`` is the served model name; ``base_url`` the API root (default OpenRouter; for vLLM
    ``http://host:port/v1``). The API key comes from ``api_key`` or the environment variable
    ``api_key_env`` (default ``OPENROUTER_API_KEY``); a local server needs none. ``usage`` sums the
    tokens the server reported (for cost). ``dimensions`` is the Matryoshka size of the vectors returned;
    ``native_dimensions`` the model's own size, known for the released models and otherwise learnt from the
    first answer (declare it to check every answer's width from the first).
    """

    def __init__(
        self,
        model: str = "qwen/qwen3-embedding-8b",
        base_url: str = OPENROUTER_BASE_URL,
        *,
        protocol: Protocol | None = None,
        api_key: Any = None,
        api_key_env: str | None = DEFAULT_API_KEY_ENV,
        dimensions: int | None = None,
        native_dimensions: int | None = None,
        default_instruction: str | None = None,
        query_instruction: str | None = None,
        batch_size: int = 64,
        timeout: float = 60.0,
        deadline: float | None = DEFAULT_DEADLINE_S,
        max_retries: int = 4,
        max_concurrency: int = 4,
        min_pixels: int = C.MIN_PIXELS,
        max_pixels: int = C.MAX_PIXELS,
        total_pixels: int = C.TOTAL_PIXELS,
        allow_urls: bool = False,
        client: RemoteClient | None = None,
        extra_body: dict[str, Any] | None = None,
    ):
        protocol = protocol or default_protocol(model)
        if protocol not in ("openai", "vllm-chat"):
            raise ValueError(f"protocol must be 'openai' or 'vllm-chat', got {protocol!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = model
        self.protocol: Protocol = protocol
        self.client = client or RemoteClient(base_url, api_key, api_key_env=api_key_env, timeout=timeout,
                                             deadline=deadline, max_retries=max_retries,
                                             max_concurrency=max_concurrency)
        self.dimensions = None
        self._native_dimension = native_dimensions or KNOWN_DIMENSIONS.get(model_key(model))
        self.dimensions = self._check_dimensions(dimensions)
        chat = protocol == "vllm-chat"
        self.default_instruction = default_instruction or (C.VL_EMBED_DEFAULT_INSTRUCTION if chat else None)
        self.query_instruction = query_instruction or (
            C.DEFAULT_QUERY_INSTRUCTION if chat else C.TEXT_EMBED_DEFAULT_TASK)
        self.batch_size = batch_size
        self.media = MediaOptions(min_pixels, max_pixels, total_pixels, C.FPS, C.NUM_FRAMES, C.MAX_FRAMES,
                                  allow_urls)
        self.extra_body = dict(extra_body or {})
        self.usage = Usage()
        self.client_side_dimensions = False  # set when the server refused ``dimensions``
        self._lock = threading.Lock()
        self._usage_warned = False

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(model={self.model_name!r}, protocol={self.protocol!r}, "
                f"client={self.client!r})")

    # -- identity --------------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        """Length of the vectors ``embed`` returns by default (one probe request if not yet known)."""
        if self.dimensions:
            return self.dimensions
        if self._native_dimension is None:
            self.embed(["dimension probe"])
        dimension = self._native_dimension
        assert dimension is not None  # the probe request sets it
        return int(dimension)

    @property
    def modalities(self) -> frozenset[str]:
        """What the protocol can send: text, images and video (``vllm-chat``) or text (``openai``)."""
        return frozenset(("text", "image", "video") if self.protocol == "vllm-chat" else ("text",))

    @property
    def identity(self) -> EmbeddingIdentity:
        fmt = "qwen3-vl-chat" if self.protocol == "vllm-chat" else "qwen3-embedding"
        return EmbeddingIdentity(model=model_key(self.model_name), dimension=self.dimension,
                                 modalities=self.modalities, prompt_format=fmt)

    def reset_usage(self) -> Usage:
        """Return the usage so far and start counting from zero."""
        with self._lock:
            usage, self.usage = self.usage, Usage()
        return usage

    # -- requests --------------------------------------------------------------------------------
    def _plan(self, items: Sequence[ItemInput], instruction: str | None) -> list[_Request]:
        check_instruction(instruction)
        parsed = parse_items(items)
        if self.protocol == "openai":
            return self._plan_openai(parsed, instruction)
        return [self._chat_request(item, i, instruction) for i, item in enumerate(parsed)]

    def _plan_openai(self, items: list[Item], instruction: str | None) -> list[_Request]:
        texts = []
        for index, item in enumerate(items):
            text = plain_text(item, index, "protocol='openai' (use protocol='vllm-chat' with a Qwen3-VL model)")
            task = item.instruction or instruction
            texts.append(text_query_prompt(task, text) if task else text)
        requests = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start:start + self.batch_size]
            payload = {"model": self.model_name, "input": chunk, "encoding_format": "float", **self.extra_body}
            requests.append(_Request(payload, list(range(start, start + len(chunk)))))
        return requests

    def _chat_request(self, item: Item, index: int, instruction: str | None) -> _Request:
        default = self.default_instruction
        assert default is not None  # set whenever the chat protocol is used
        system = normalize_instruction(item.instruction or instruction, default)
        messages = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {"role": "user", "content": content_parts(item, index, self.media)},
        ]
        payload = {
            "model": self.model_name,
            "messages": messages,
            "encoding_format": "float",
            # vLLM's pooling default is False, which would pool a different token than the official code.
            "add_generation_prompt": True,
            "continue_final_message": False,
            "add_special_tokens": False,  # the chat template already has every special token
            **self.extra_body,
        }
        return _Request(payload, [index])

    def _with_dimensions(self, payload: dict[str, Any], dimensions: int | None) -> dict[str, Any]:
        if dimensions is None or self.client_side_dimensions:
            return payload
        return {**payload, "dimensions": dimensions}

    def _refused(self, error: RemoteError, payload: dict[str, Any]) -> bool:
        refused = (error.status in (400, 422) and "dimensions" in payload
                   and bool(_REFUSED_DIMENSIONS.search(error.server_message or str(error))))
        if refused:
            with self._lock:
                if not self.client_side_dimensions:
                    self.client_side_dimensions = True
                    logger.warning("%s refused 'dimensions' (%s); truncating and renormalising on the client "
                                   "from now on", error.endpoint, error.server_message or error)
        return refused

    def _finish(self, request: _Request, body: Any) -> np.ndarray:
        endpoint = self.client.endpoint("/embeddings")
        vectors = parse_embeddings(body, request.rows, endpoint)
        with self._lock:
            ignored = self.usage.add(body.get("usage"), len(request.rows))
        if ignored and not self._usage_warned:
            self._usage_warned = True
            logger.warning("%s: ignored the server's usage field(s) %s: not a non-negative token count "
                           "(said once per object)", endpoint, ", ".join(ignored))
        return vectors

    def _send(self, request: _Request, dimensions: int | None) -> np.ndarray:
        payload = self._with_dimensions(request.payload, dimensions)
        try:
            body = self.client.post("/embeddings", payload)
        except RemoteError as error:
            if not self._refused(error, payload):
                raise
            body = self.client.post("/embeddings", request.payload)
        return self._finish(request, body)

    async def _asend(self, request: _Request, dimensions: int | None) -> np.ndarray:
        payload = self._with_dimensions(request.payload, dimensions)
        try:
            body = await self.client.apost("/embeddings", payload)
        except RemoteError as error:
            if not self._refused(error, payload):
                raise
            body = await self.client.apost("/embeddings", request.payload)
        return self._finish(request, body)

    def _bad(self, index: int, why: str) -> RemoteResponseError:
        endpoint = self.client.endpoint("/embeddings")
        return RemoteResponseError(f"{endpoint}: item {index}: {why}", endpoint=endpoint, status=200, index=index)

    def _check_width(self, width: int, index: int, dimensions: int | None) -> None:
        """A vector of the model's size, or of the requested ``dimensions``; the first answer of a model of
        unknown size sets it, once."""
        with self._lock:
            if self._native_dimension is None and dimensions is None:
                self._native_dimension = width
            native = self._native_dimension
        if native is not None and width != native and width != dimensions:
            wanted = f"{native} (the model's size)" + (f" or {dimensions} (dimensions=)" if dimensions else "")
            raise self._bad(index, f"the server sent a vector of {width} values, expected {wanted}")
        if dimensions is not None and width < dimensions:
            raise self._bad(index, f"asked for {dimensions} dimensions, the server sent a vector of {width}")

    def _assemble(self, requests: list[_Request], results: list[np.ndarray], n: int,
                  dimensions: int | None) -> np.ndarray:
        width = results[0].shape[1]
        for request, vectors in zip(requests, results):
            self._check_width(vectors.shape[1], request.rows[0], dimensions)
            if vectors.shape[1] != width:
                raise self._bad(request.rows[0], f"the server sent a vector of {vectors.shape[1]} values, and "
                                                 f"one of {width} for item {requests[0].rows[0]} of the same call")
        out = np.empty((n, width), dtype=np.float64)
        for request, vectors in zip(requests, results):
            out[request.rows] = vectors
        # A server that ignored ``dimensions`` (or refused it) returns longer vectors: MRL here.
        out = out[:, :dimensions] if dimensions is not None else out
        # Scaled by the largest value first, so a vector of 1e30s normalises as one of 1s (its float32
        # norm would overflow); a vector that is zero (in its first ``dimensions`` values) has no direction.
        scale = np.abs(out).max(axis=1, keepdims=True)
        zero = np.flatnonzero(scale[:, 0] == 0)
        if zero.size:
            raise self._bad(int(zero[0]), "the server sent a zero vector" + (
                f" (zero in its first {dimensions} values)" if dimensions is not None else ""))
        return truncate_and_normalize((out / scale).astype(np.float32), None)

    def _empty(self, dimensions: int | None) -> np.ndarray:
        width = dimensions or self.dimensions or self._native_dimension or 0
        return np.zeros((0, width), dtype=np.float32)

    def _check_dimensions(self, dimensions: int | None) -> int | None:
        """The call's ``dimensions`` (else the default), checked before any request: 0 is an error, and so is
        more than the model's size when it is known (else only the lower bound can be checked here)."""
        dimensions = self.dimensions if dimensions is None else dimensions
        if self._native_dimension is not None:
            check_dimensions(dimensions, self._native_dimension)
        elif dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int)
                                         or dimensions < 1):
            raise ValueError(f"dimensions must be a positive integer, got {dimensions!r}")
        return dimensions

    # -- public API ------------------------------------------------------------------------------
    def _precision(self, dimensions: int | None, precision: Any, ranges: Any,
                   calibration_embeddings: Any) -> VectorPrecision:
        """The call's precision, checked before any request (against the width when it is known)."""
        width = dimensions or self._native_dimension
        return VectorPrecision.resolve(precision, ranges, calibration_embeddings, width=width)

    def _empty_at(self, target: VectorPrecision, dimensions: int | None) -> np.ndarray:
        empty = self._empty(dimensions)
        if target.ranges is not None and not empty.shape[1]:  # the width is not known yet: the ranges' width
            empty = np.zeros((0, target.ranges.shape[1]), dtype=np.float32)
        return target.apply(empty)

    def embed(self, items: Sequence[ItemInput], instruction: str | None = None, dimensions: int | None = None, *,
              precision: Precision = "float32", ranges: Any = None,
              calibration_embeddings: Any = None) -> np.ndarray:
        """Unit vectors (N, D) float32 for N items, in order (at ``precision`` when given); every item
        validated before any request."""
        dimensions = self._check_dimensions(dimensions)
        target = self._precision(dimensions, precision, ranges, calibration_embeddings)
        requests = self._plan(items, instruction)
        if not requests:
            return self._empty_at(target, dimensions)
        results = self.client.map(lambda r: self._send(r, dimensions), requests)
        return target.apply(self._assemble(requests, results, sum(len(r.rows) for r in requests), dimensions))

    def check(self, items: Sequence[ItemInput], instruction: str | None = None, dimensions: int | None = None, *,
              precision: Precision = "float32", ranges: Any = None, calibration_embeddings: Any = None) -> None:
        """Raise what ``embed`` would raise before its first request, sending none."""
        self._precision(self._check_dimensions(dimensions), precision, ranges, calibration_embeddings)
        self._plan(as_list(items, "items"), instruction)

    async def aembed(self, items: Sequence[ItemInput], instruction: str | None = None,
                     dimensions: int | None = None, *, precision: Precision = "float32", ranges: Any = None,
                     calibration_embeddings: Any = None) -> np.ndarray:
        """``embed`` for asyncio (requests concurrent, bounded by ``max_concurrency``)."""
        dimensions = self._check_dimensions(dimensions)
        target = self._precision(dimensions, precision, ranges, calibration_embeddings)
        requests = self._plan(items, instruction)
        if not requests:
            return self._empty_at(target, dimensions)
        results = await self.client.amap(lambda r: self._asend(r, dimensions), requests)
        return target.apply(self._assemble(requests, results, sum(len(r.rows) for r in requests), dimensions))

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        await self.client.aclose()
