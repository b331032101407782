"""RemoteClient: JSON POSTs to an OpenAI-compatible server, with retries, timeouts and a secret API key.

One job: send a JSON body, get a JSON body back, or raise a ``RemoteError`` that says the endpoint, the
status and the server's message. Retried, with exponential backoff and jitter (or the server's
``Retry-After``): 408, 429, 5xx, timeouts and connection errors. Not retried: other 4xx (401/403 become
``AuthenticationError``). The API key is a pydantic ``SecretStr``: it is not in ``repr``, logs or error
messages (a server that echoes it back has it masked).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from .errors import AuthenticationError, RemoteError, RemoteResponseError

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

DEFAULT_API_KEY_ENV = "OPENROUTER_API_KEY"
RETRY_STATUSES = frozenset({408, 429})  # plus every 5xx except these, which a retry cannot fix:
NO_RETRY_5XX = frozenset({501, 505})
_MAX_SERVER_MESSAGE = 500

T = TypeVar("T")
R = TypeVar("R")


def _retryable(status: int) -> bool:
    return status in RETRY_STATUSES or (status >= 500 and status not in NO_RETRY_5XX)


def _httpx() -> ModuleType:
    try:
        import httpx
    except ImportError as exc:  # the `remote` extra is optional
        raise ImportError("the remote backends need httpx: pip install 'qwen3-vl-rag[remote]'") from exc
    return httpx


def resolve_api_key(api_key: str | SecretStr | None, api_key_env: str | None) -> SecretStr | None:
    """An explicit key wins; else the environment variable ``api_key_env``; else no key (a local server)."""
    if isinstance(api_key, SecretStr):
        return api_key if api_key.get_secret_value() else None
    if api_key:
        return SecretStr(api_key)
    if api_key_env:
        value = os.environ.get(api_key_env, "").strip()
        if value:
            return SecretStr(value)
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date. None if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RemoteClient:
    """A small JSON-over-HTTP client shared by ``RemoteEmbedder`` and ``RemoteReranker``.

    ``base_url`` is the server's API root (``https://openrouter.ai/api/v1``, ``http://host:8000/v1``);
    request paths are appended to it. ``timeout`` is per request (seconds), ``max_retries`` the retries
    after the first attempt, ``max_concurrency`` the requests in flight at once (``map``/``amap``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | SecretStr | None = None,
        *,
        api_key_env: str | None = DEFAULT_API_KEY_ENV,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        max_concurrency: int = 8,
        headers: dict[str, str] | None = None,
    ):
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if max_retries < 0 or max_concurrency < 1 or timeout <= 0:
            raise ValueError("need max_retries >= 0, max_concurrency >= 1 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.api_key = resolve_api_key(api_key, api_key_env)
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.max_retry_after = float(max_retry_after)
        self.max_concurrency = int(max_concurrency)
        self.extra_headers = dict(headers or {})
        self._client: httpx.Client | None = None
        self._async: tuple[Any, Any, asyncio.Semaphore] | None = None  # (loop, AsyncClient, semaphore)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        key = "SecretStr('**********')" if self.api_key else "None"
        return (f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key}, timeout={self.timeout}, "
                f"max_retries={self.max_retries}, max_concurrency={self.max_concurrency})")

    # -- plumbing --------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.extra_headers}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return headers

    def _mask(self, text: str) -> str:
        if self.api_key is not None:
            secret = self.api_key.get_secret_value()
            if secret:
                text = text.replace(secret, "**********")
        return text

    def _sync_client(self) -> httpx.Client:
        httpx = _httpx()

        with self._lock:
            if self._client is None:
                limits = httpx.Limits(max_connections=max(10, self.max_concurrency * 2))
                self._client = httpx.Client(timeout=self.timeout, limits=limits)
            return self._client

    def _async_state(self) -> tuple[Any, httpx.AsyncClient, asyncio.Semaphore]:
        httpx = _httpx()

        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop or self._async[1].is_closed:
            # An AsyncClient belongs to the event loop it first ran on; a new loop gets a new one.
            limits = httpx.Limits(max_connections=max(10, self.max_concurrency * 2))
            self._async = (loop, httpx.AsyncClient(timeout=self.timeout, limits=limits),
                           asyncio.Semaphore(self.max_concurrency))
        return self._async

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async[1].aclose()
            self._async = None

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> RemoteClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # -- retry policy ----------------------------------------------------------------------------
    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.backoff_max, self.backoff_base * (2.0 ** attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never 0, spread out

    def _endpoint(self, path: str) -> str:
        return f"POST {self.url(path)}"

    def _server_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()
        else:
            text = ""
            if isinstance(body, dict):
                error = body.get("error")
                if isinstance(error, dict):
                    text = str(error.get("message") or "")
                elif isinstance(error, str):
                    text = error
                text = text or str(body.get("message") or body.get("detail") or "")
            text = text or json.dumps(body)[:_MAX_SERVER_MESSAGE]
        text = self._mask(text)
        return text if len(text) <= _MAX_SERVER_MESSAGE else text[: _MAX_SERVER_MESSAGE - 3] + "..."

    def _error_for(self, path: str, response: httpx.Response) -> RemoteError:
        status = response.status_code
        message = self._server_message(response)
        endpoint = self._endpoint(path)
        if status in (401, 403):
            where = (f"check the key in ${self.api_key_env} or pass api_key=" if self.api_key_env
                     else "check api_key=")
            hint = "no API key was sent; " if self.api_key is None else "the API key was rejected; "
            return AuthenticationError(
                f"{endpoint}: authentication failed (HTTP {status}): {hint}{where}. Server said: {message or '-'}",
                endpoint=endpoint, status=status, server_message=message)
        return RemoteError(f"{endpoint} failed with HTTP {status}: {message or response.reason_phrase}",
                           endpoint=endpoint, status=status, server_message=message)

    def _decode(self, path: str, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            snippet = self._mask(response.text[:200])
            endpoint = self._endpoint(path)
            raise RemoteResponseError(
                f"{endpoint}: HTTP {response.status_code} but the body is not JSON: {snippet!r}",
                endpoint=endpoint, status=response.status_code, server_message=snippet) from None

    def _transport_error(self, path: str, exc: Exception, attempts: int) -> RemoteError:
        httpx = _httpx()

        endpoint = self._endpoint(path)
        kind = (f"timed out after {self.timeout:g} s" if isinstance(exc, httpx.TimeoutException)
                else f"connection failed ({type(exc).__name__}: {self._mask(str(exc))})")
        return RemoteError(f"{endpoint}: {kind}; gave up after {attempts} attempt(s)", endpoint=endpoint)

    def _log_retry(self, path: str, why: str, delay: float, attempt: int) -> None:
        logger.warning("%s: %s; retrying in %.2f s (attempt %d of %d)", self._endpoint(path), why, delay,
                       attempt + 2, self.max_retries + 1)

    # -- requests --------------------------------------------------------------------------------
    def post(self, path: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` as JSON to ``base_url + path``; the decoded JSON answer, or a ``RemoteError``."""
        httpx = _httpx()

        client = self._sync_client()
        attempt = 0
        while True:
            try:
                response = client.post(self.url(path), json=payload, headers=self._headers())
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt >= self.max_retries:
                    raise self._transport_error(path, exc, attempt + 1) from None
                delay = self._backoff(attempt, None)
                self._log_retry(path, type(exc).__name__, delay, attempt)
            else:
                if response.is_success:
                    return self._decode(path, response)
                if not _retryable(response.status_code) or attempt >= self.max_retries:
                    raise self._error_for(path, response)
                delay = self._backoff(attempt, parse_retry_after(response.headers.get("Retry-After")))
                self._log_retry(path, f"HTTP {response.status_code}", delay, attempt)
            time.sleep(delay)
            attempt += 1

    async def apost(self, path: str, payload: dict[str, Any]) -> Any:
        """``post`` for asyncio; at most ``max_concurrency`` requests of this client are in flight."""
        httpx = _httpx()

        _, client, semaphore = self._async_state()
        attempt = 0
        while True:
            async with semaphore:
                try:
                    response = await client.post(self.url(path), json=payload, headers=self._headers())
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    response, error = None, exc
            if response is None:
                if attempt >= self.max_retries:
                    raise self._transport_error(path, error, attempt + 1) from None
                delay = self._backoff(attempt, None)
                self._log_retry(path, type(error).__name__, delay, attempt)
            else:
                if response.is_success:
                    return self._decode(path, response)
                if not _retryable(response.status_code) or attempt >= self.max_retries:
                    raise self._error_for(path, response)
                delay = self._backoff(attempt, parse_retry_after(response.headers.get("Retry-After")))
                self._log_retry(path, f"HTTP {response.status_code}", delay, attempt)
            await asyncio.sleep(delay)
            attempt += 1

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` on up to ``max_concurrency`` threads, in order; the first error raises."""
        items = list(items)
        if len(items) <= 1 or self.max_concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items))) as pool:
            futures = [pool.submit(fn, x) for x in items]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    async def amap(self, fn: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
        """``await fn(x)`` for every item concurrently (``apost`` bounds the requests in flight), in order."""
        tasks = [asyncio.ensure_future(fn(x)) for x in items]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
