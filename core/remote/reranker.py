"""RemoteReranker: the ``Qwen3VLReranker`` interface over a server's ``/rerank`` (or ``/score``) endpoint.

``POST /rerank`` ``{"model", "query", "documents", "top_n", "instruction"}`` (vLLM, Jina, Cohere and
OpenRouter's shape; vLLM also answers it at ``/v1/rerank``). When the server has no ``/rerank`` (404),
``/score`` is used instead, first with ``{"queries", "documents"}``, then the older ``{"text_1",
"text_2"}``; the working variant is remembered. Documents and queries with images or video go as
``{"content": [parts]}`` (videos, images, then the item's texts joined into one text part, as the local
reranker's prompt joins them); images are resized here with the official smart_resize and sent as PNG.

For the local reranker's scores the server must render the official prompt: vLLM needs the overrides
of reference §5 and a chat template with the official format (``RERANK_CHAT_TEMPLATE`` here), which
receives ``instruction`` from the request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..api import ScoringAPI, as_list
from ..errors import InputError
from ..formats import defaults as C
from ..inputs import Item, check_instruction, parse_item
from ..media import MediaOptions
from ..usage import Usage
from .client import DEFAULT_API_KEY_ENV, DEFAULT_DEADLINE_S, RemoteClient
from .errors import RemoteError
from .payloads import content_parts, parse_scores

logger = logging.getLogger(__name__)

_PATHS = ("/rerank", "/score")
# (query, documents, rows in the caller's pairs, instruction): one request per distinct query
_Group = tuple[Any, list[Any], list[int], str | None]


class RemoteReranker(ScoringAPI):
    """Relevance scores from a server, with the local rerankers' interface (``score``, ``rerank``,
    ``score_pairs``). Scores are what the server returns (P(yes) in [0, 1] for Qwen3 rerankers)."""

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: Any = None,
        api_key_env: str | None = DEFAULT_API_KEY_ENV,
        default_instruction: str | None = C.RERANK_DEFAULT_INSTRUCTION,
        send_instruction: bool = True,
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
        self.model_name = model
        self.client = client or RemoteClient(base_url, api_key, api_key_env=api_key_env, timeout=timeout,
                                             deadline=deadline, max_retries=max_retries,
                                             max_concurrency=max_concurrency)
        self.default_instruction = default_instruction
        self.send_instruction = send_instruction
        self.media = MediaOptions(min_pixels, max_pixels, total_pixels, C.FPS, C.NUM_FRAMES, C.MAX_FRAMES,
                                  allow_urls)
        self.extra_body = dict(extra_body or {})
        self.usage = Usage()
        self.endpoint: str | None = None  # "/rerank", "/score" or "/score:text" once one has worked
        self._lock = threading.Lock()
        self._usage_warned = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model_name!r}, client={self.client!r})"

    # -- payloads --------------------------------------------------------------------------------
    def _side(self, item: Item, index: int) -> Any:
        """A plain string for text-only items, else ``{"content": [parts]}``."""
        text = "".join(item.texts)
        if not item.has_media:
            return text or C.EMPTY_ITEM_TEXT
        parts = [p for p in content_parts(Item(images=item.images, videos=item.videos), index, self.media)
                 if p["type"] != "text"]
        if text:
            parts.append({"type": "text", "text": text})
        return {"content": parts}

    def _groups(self, pairs: Sequence[Any]) -> list[_Group]:
        """Pairs grouped by query (one request per distinct query): (query, documents, rows, instruction)."""
        groups: dict[str, _Group] = {}
        for index, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise InputError(index, "expected a (query, document) pair")
            query_item, document_item = parse_item(pair[0], index), parse_item(pair[1], index)
            query = self._side(query_item, index)
            document = self._side(document_item, index)
            key = repr((query, query_item.instruction))
            if key not in groups:
                groups[key] = (query, [], [], query_item.instruction)
            groups[key][1].append(document)
            groups[key][2].append(index)
        return list(groups.values())

    def _payload(self, variant: str, query: Any, documents: list[Any], instruction: str | None) -> dict[str, Any]:
        if variant == "/rerank":
            body = {"model": self.model_name, "query": query, "documents": documents, "top_n": len(documents)}
        elif variant == "/score":
            body = {"model": self.model_name, "queries": query, "documents": documents}
        else:  # "/score:text", vLLM before 0.11
            body = {"model": self.model_name, "text_1": query, "text_2": documents}
        if self.send_instruction and instruction:
            body["instruction"] = instruction
        return {**body, **self.extra_body}

    def _variants(self) -> list[str]:
        return [self.endpoint] if self.endpoint else ["/rerank", "/score", "/score:text"]

    @staticmethod
    def _next_variant(variant: str, error: RemoteError) -> bool:
        """Whether a failure of ``variant`` means "try the next one" rather than a real error."""
        if variant == "/rerank":
            return error.status in (404, 405)
        message = (error.server_message or "").lower()
        if variant == "/score":  # an old server that wants text_1 / text_2
            return error.status in (400, 422) and any(k in message for k in ("text_1", "queries", "field required"))
        return False

    def _finish(self, variant: str, body: Any, rows: list[int]) -> np.ndarray:
        endpoint = self.client.endpoint(variant.split(":")[0])
        scores = parse_scores(body, rows, endpoint)
        with self._lock:
            ignored = self.usage.add(body.get("usage"), len(rows))
            if self.endpoint != variant:
                if self.endpoint is None and variant != "/rerank":
                    logger.info("%s has no /rerank; using %s", self.client.base_url, variant)
                self.endpoint = variant
        if ignored and not self._usage_warned:
            self._usage_warned = True
            logger.warning("%s: ignored the server's usage field(s) %s: not a non-negative token count "
                           "(said once per object)", endpoint, ", ".join(ignored))
        return scores

    def _request(self, variant: str, group: _Group) -> tuple[str, dict[str, Any]]:
        """(path, payload) of ``group``'s request in ``variant``."""
        query, documents, _, instruction = group
        return variant.split(":")[0], self._payload(variant, query, documents, instruction)

    def _fallback(self, variant: str, error: RemoteError) -> RemoteError:
        """``error`` when it means "try the next variant" (while no endpoint is known yet); otherwise re-raised."""
        if self.endpoint is None and self._next_variant(variant, error):
            return error
        raise error

    # _send and _asend differ only in their request; the choice of variant is in _fallback.
    def _send(self, group: _Group) -> np.ndarray:
        error: RemoteError | None = None
        for variant in self._variants():
            try:
                body = self.client.post(*self._request(variant, group))
            except RemoteError as exc:
                error = self._fallback(variant, exc)
            else:
                return self._finish(variant, body, group[2])
        raise error  # type: ignore[misc]

    async def _asend(self, group: _Group) -> np.ndarray:
        error: RemoteError | None = None
        for variant in self._variants():
            try:
                body = await self.client.apost(*self._request(variant, group))
            except RemoteError as exc:
                error = self._fallback(variant, exc)
            else:
                return self._finish(variant, body, group[2])
        raise error  # type: ignore[misc]

    def _prepare(self, pairs: Sequence[Any], instruction: str | None) -> list[_Group]:
        instruction = check_instruction(instruction) or self.default_instruction
        groups = [(q, docs, rows, own or instruction) for q, docs, rows, own in self._groups(pairs)]
        return groups

    @staticmethod
    def _assemble(groups: list[_Group], results: Sequence[np.ndarray], n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.float32)
        for (_, _, rows, _), scores in zip(groups, results):
            out[rows] = scores
        return out

    # -- public API ------------------------------------------------------------------------------
    def score_pairs(self, pairs: Iterable[Any], instruction: str | None = None) -> np.ndarray:
        """Scores of (query, document) pairs: float32 (N,), in input order (one request per distinct query)."""
        pairs = as_list(pairs, "pairs")
        groups = self._prepare(pairs, instruction)
        if not groups:
            return np.zeros(0, dtype=np.float32)
        return self._assemble(groups, self.client.map(self._send, groups), len(pairs))

    async def ascore_pairs(self, pairs: Iterable[Any], instruction: str | None = None) -> np.ndarray:
        pairs = as_list(pairs, "pairs")
        groups = self._prepare(pairs, instruction)
        if not groups:
            return np.zeros(0, dtype=np.float32)
        return self._assemble(groups, await self.client.amap(self._asend, groups), len(pairs))

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        await self.client.aclose()
