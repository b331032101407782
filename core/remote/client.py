"""RemoteClient: JSON POSTs to an OpenAI-compatible server, with retries, timeouts and a secret API key.

One job: send a JSON body, get a JSON body back, or raise a ``RemoteError`` that says the endpoint, the
status and the server's message. Retried, with exponential backoff and jitter (or the server's
``Retry-After``): 408, 429, 5xx, timeouts and connection errors. Not retried: other 4xx (401/403 become
``AuthenticationError``). The API key is a pydantic ``SecretStr``: it is not in ``repr``, logs or error
messages (a server that echoes it back has it masked before the text is cut to length).

Time: ``timeout`` bounds each attempt as a whole (connect, send, and the complete answer: a server that
trickles bytes is cut). ``deadline`` bounds a whole call (``post``/``apost``, or all the requests of one
``map``/``amap``, i.e. of one ``embed``/``score`` call) with its retries, Retry-After waits and waits for
a request slot. ``max_concurrency`` holds per client object: across threads, calls and event loops, at
most that many requests are in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import SecretStr

from .errors import AuthenticationError, RemoteError, RemoteResponseError

if TYPE_CHECKING:
    import httpx
    from httpx import AsyncClient as _AsyncClient
    from httpx import Response as _Response

logger = logging.getLogger(__name__)

DEFAULT_API_KEY_ENV = "OPENROUTER_API_KEY"
RETRY_STATUSES = frozenset({408, 429})  # plus every 5xx except these, which a retry cannot fix:
NO_RETRY_5XX = frozenset({501, 505})
_MAX_SERVER_MESSAGE = 500
DEFAULT_DEADLINE_S = 300.0  # one post/apost, retries and waits included
_SLOT_POLL_S = (0.002, 0.02)  # async wait for a request slot: first and longest poll interval

# When the current map/amap call started: every request of one embed/score call shares one deadline.
_CALL_STARTED: contextvars.ContextVar[float | None] = contextvars.ContextVar("call_started", default=None)

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
    request paths are appended to it. ``timeout`` bounds each attempt (seconds, the whole exchange),
    ``deadline`` each call with all its requests, retries and waits (seconds; default 300), ``max_retries`` the retries
    after the first attempt, ``max_concurrency`` the requests of this object in flight at once, whatever
    the threads, calls and event loops.
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
        deadline: float | None = DEFAULT_DEADLINE_S,
    ):
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if max_retries < 0 or max_concurrency < 1 or timeout <= 0:
            raise ValueError("need max_retries >= 0, max_concurrency >= 1 and timeout > 0")
        if deadline is not None and deadline <= 0:
            raise ValueError(f"deadline must be > 0 seconds (or None for no overall limit), got {deadline}")
        self.base_url = base_url.rstrip("/")
        self.api_key = resolve_api_key(api_key, api_key_env)
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.max_retry_after = float(max_retry_after)
        self.max_concurrency = int(max_concurrency)
        self.deadline = float(deadline) if deadline is not None else None
        self.extra_headers = dict(headers or {})
        self._client: httpx.Client | None = None
        # One AsyncClient per event loop (it belongs to the loop it runs on), each with the async generator
        # that closes it when the loop shuts down (asyncio.run closes async generators before the loop).
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()
        self._slots = threading.BoundedSemaphore(self.max_concurrency)  # requests in flight, all paths
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        key = "SecretStr('**********')" if self.api_key else "None"
        return (f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key}, timeout={self.timeout}, "
                f"deadline={self.deadline}, max_retries={self.max_retries}, max_concurrency={self.max_concurrency})")

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

    async def _async_client(self) -> httpx.AsyncClient:
        httpx = _httpx()

        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async.get(loop)
            if entry is not None and not entry[0].is_closed:
                return entry[0]
            limits = httpx.Limits(max_connections=max(10, self.max_concurrency * 2))
            client = httpx.AsyncClient(timeout=self.timeout, limits=limits)
            closer = _close_at_loop_shutdown(client)
            self._async[loop] = (client, closer)
        await closer.asend(None)  # registered with the loop: closed by its shutdown_asyncgens()
        return cast("_AsyncClient", client)

    def close(self) -> None:
        """Close the sync connection pool (async ones close with their event loop, or with ``aclose``)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close this event loop's connection pool."""
        with self._lock:
            entry = self._async.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()

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

    def endpoint(self, path: str) -> str:
        """``POST {url}``: how errors name the endpoint."""
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
            text = text or json.dumps(body)
        return self._clip(text)

    def _clip(self, text: str, limit: int = _MAX_SERVER_MESSAGE) -> str:
        """Server text for a message: the key masked FIRST, then cut (a cut key would escape the mask)."""
        text = self._mask(text)
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def _error_for(self, path: str, response: httpx.Response) -> RemoteError:
        status = response.status_code
        message = self._server_message(response)
        endpoint = self.endpoint(path)
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
            snippet = self._clip(response.text, 200)
            endpoint = self.endpoint(path)
            raise RemoteResponseError(
                f"{endpoint}: HTTP {response.status_code} but the body is not JSON: {snippet!r}",
                endpoint=endpoint, status=response.status_code, server_message=snippet) from None

    def _transport_error(self, path: str, exc: Exception, attempts: int) -> RemoteError:
        httpx = _httpx()

        endpoint = self.endpoint(path)
        kind = (f"timed out after {self.timeout:g} s" if isinstance(exc, httpx.TimeoutException)
                else f"connection failed ({type(exc).__name__}: {self._clip(str(exc))})")
        return RemoteError(f"{endpoint}: {kind}; gave up after {attempts} attempt(s)", endpoint=endpoint)

    def _log_retry(self, path: str, why: str, delay: float, attempt: int) -> None:
        logger.warning("%s: %s; retrying in %.2f s (attempt %d of %d)", self.endpoint(path), why, delay,
                       attempt + 2, self.max_retries + 1)

    # -- requests --------------------------------------------------------------------------------
    def _remaining(self, started: float) -> float:
        return float("inf") if self.deadline is None else self.deadline - (time.monotonic() - started)

    def _past_deadline(self, path: str, attempts: int, why: str) -> RemoteError:
        endpoint = self.endpoint(path)
        return RemoteError(f"{endpoint}: deadline of {self.deadline:g} s reached ({why}); gave up after "
                           f"{attempts} attempt(s)", endpoint=endpoint)

    def _attempt_sync(self, client: httpx.Client, path: str, payload: dict[str, Any],
                      budget: float) -> httpx.Response:
        """One request whose whole exchange, body included, ends within ``budget`` seconds."""
        httpx = _httpx()

        started = time.monotonic()
        with client.stream("POST", self.url(path), json=payload, headers=self._headers(),
                           timeout=httpx.Timeout(budget)) as response:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() - started > budget:  # a server trickling bytes within each read timeout
                    raise httpx.ReadTimeout(f"answer not complete after {budget:g} s", request=response.request)
            return cast("_Response", httpx.Response(response.status_code, headers=response.headers,
                                                         content=b"".join(chunks), request=response.request))

    async def _attempt_async(self, client: httpx.AsyncClient, path: str, payload: dict[str, Any],
                             budget: float) -> httpx.Response:
        httpx = _httpx()

        request = client.build_request("POST", self.url(path), json=payload, headers=self._headers(),
                                       timeout=httpx.Timeout(budget))
        try:
            return await asyncio.wait_for(self._send_async(client, request), budget)
        except asyncio.TimeoutError:
            raise httpx.ReadTimeout(f"answer not complete after {budget:g} s", request=request) from None

    @staticmethod
    async def _send_async(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        response = await client.send(request)
        await response.aread()
        return response

    def _outcome(self, path: str, response: httpx.Response, attempt: int) -> tuple[bool, Any, float]:
        """(done, result, delay): the decoded answer, or the delay before the next attempt; raises if final."""
        if response.is_success:
            return True, self._decode(path, response), 0.0
        if not _retryable(response.status_code) or attempt >= self.max_retries:
            raise self._error_for(path, response)
        delay = self._backoff(attempt, parse_retry_after(response.headers.get("Retry-After")))
        self._log_retry(path, f"HTTP {response.status_code}", delay, attempt)
        return False, None, delay

    def _failed(self, path: str, error: Exception, attempt: int) -> float:
        if attempt >= self.max_retries:
            raise self._transport_error(path, error, attempt + 1) from None
        delay = self._backoff(attempt, None)
        self._log_retry(path, type(error).__name__, delay, attempt)
        return delay

    def _check_wait(self, path: str, started: float, delay: float, attempt: int) -> None:
        if delay >= self._remaining(started):
            raise self._past_deadline(path, attempt + 1, f"the next retry would start {delay:.2f} s from now")

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` as JSON to ``base_url + path``; the decoded JSON answer, or a ``RemoteError``."""
        httpx = _httpx()

        client = self._sync_client()
        started = _CALL_STARTED.get() or time.monotonic()
        attempt = 0
        while True:
            remaining = self._remaining(started)
            if not self._slots.acquire(timeout=None if remaining == float("inf") else max(remaining, 0)):
                raise self._past_deadline(path, attempt, f"no request slot free (max_concurrency="
                                                         f"{self.max_concurrency})")
            try:
                budget = min(self.timeout, self._remaining(started))
                if budget <= 0:
                    raise self._past_deadline(path, attempt, "no time left for another attempt")
                response = self._attempt_sync(client, path, payload, budget)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                response, error = None, exc
            finally:
                self._slots.release()
            if response is None:
                if self._remaining(started) <= 0:
                    raise self._past_deadline(path, attempt + 1, f"the last attempt was cut: {type(error).__name__}")
                delay = self._failed(path, error, attempt)
            else:
                done, result, delay = self._outcome(path, response, attempt)
                if done:
                    return result
            self._check_wait(path, started, delay, attempt)
            time.sleep(delay)
            attempt += 1

    async def _acquire_slot(self, started: float) -> bool:
        pause = _SLOT_POLL_S[0]
        while not self._slots.acquire(blocking=False):  # a thread lock: shared with threads and other loops
            if self._remaining(started) <= 0:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, _SLOT_POLL_S[1])
        return True

    async def apost(self, path: str, payload: dict[str, Any]) -> Any:
        """``post`` for asyncio; the same ``max_concurrency`` slots as the sync path, the same deadline."""
        httpx = _httpx()

        client = await self._async_client()
        started = _CALL_STARTED.get() or time.monotonic()
        attempt = 0
        while True:
            if not await self._acquire_slot(started):
                raise self._past_deadline(path, attempt, f"no request slot free (max_concurrency="
                                                         f"{self.max_concurrency})")
            try:
                budget = min(self.timeout, self._remaining(started))
                if budget <= 0:
                    raise self._past_deadline(path, attempt, "no time left for another attempt")
                response = await self._attempt_async(client, path, payload, budget)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                response, error = None, exc
            finally:
                self._slots.release()
            if response is None:
                if self._remaining(started) <= 0:
                    raise self._past_deadline(path, attempt + 1, f"the last attempt was cut: {type(error).__name__}")
                delay = self._failed(path, error, attempt)
            else:
                done, result, delay = self._outcome(path, response, attempt)
                if done:
                    return result
            self._check_wait(path, started, delay, attempt)
            await asyncio.sleep(delay)
            attempt += 1

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` on up to ``max_concurrency`` threads, in order; the first error raises.
        The requests ``fn`` makes share one ``deadline``, counted from this call."""
        items = list(items)
        token = _CALL_STARTED.set(_CALL_STARTED.get() or time.monotonic())
        try:
            if len(items) <= 1 or self.max_concurrency == 1:
                return [fn(x) for x in items]
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items))) as pool:
                futures = [pool.submit(contextvars.copy_context().run, fn, x) for x in items]
                try:
                    return [f.result() for f in futures]
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
        finally:
            _CALL_STARTED.reset(token)

    async def amap(self, fn: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
        """``await fn(x)`` for every item concurrently (``apost`` bounds the requests in flight), in order,
        under one ``deadline`` counted from this call."""
        token = _CALL_STARTED.set(_CALL_STARTED.get() or time.monotonic())
        try:
            tasks = [asyncio.ensure_future(fn(x)) for x in items]  # each task copies the context
        finally:
            _CALL_STARTED.reset(token)
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise


async def _close_at_loop_shutdown(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    """Suspended once; ``loop.shutdown_asyncgens()`` (``asyncio.run`` calls it) resumes it to close ``client``."""
    try:
        yield
    finally:
        await client.aclose()
