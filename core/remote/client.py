"""RemoteClient: JSON POSTs to an OpenAI-compatible server, with retries, timeouts and a secret API key.

One job: send a JSON body, get a JSON body back, or raise a ``RemoteError`` that says the endpoint, the
status and the server's message. Retried, with exponential backoff and jitter (or the server's
``Retry-After``): 408, 429, 5xx, timeouts and connection errors. Not retried: other 4xx (401/403 become
``AuthenticationError``). The API key is a pydantic ``SecretStr``: it is not in ``repr``, logs or error
messages (a server that echoes it back has it masked before the text is cut to length).

Answers: read in full up to ``max_response_bytes`` after decoding (a compressed bomb or a runaway body is
cut there), decoded from any ``Content-Encoding`` httpx advertises (gzip, deflate, and zstd/br when their
packages are installed), on the sync and async paths alike. Redirects are not followed (one could carry
the key to another host): a 3xx is an error naming where it pointed. A body that is not JSON (an HTML
error page, a truncated or undecodable answer), nested too deep to parse, or a 2xx whose body is an
``{"error": ...}`` object is a ``RemoteResponseError``; any other failure of the transport is a
``RemoteError``: nothing from httpx escapes raw. The ``Content-Type`` is not trusted either way: the body
is parsed as JSON whatever it says.

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
import re
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import SecretStr

from . import secrets as _secrets
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
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024  # decoded: ~40x a 64 x 4096-d embedding answer
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


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer, read in full and decoded (``body`` is what the server meant, not what it sent)."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    encoding: str  # the Content-Encoding it came with ("" for none)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


_TAGS = re.compile(r"<(script|style)\b[^>]*>[^<]*|<[^>]*>", re.IGNORECASE)  # linear: no backtracking


def _readable(text: str) -> str:
    """An HTML error page as its words (a proxy's 502 page says "502 Bad Gateway nginx"), else the text."""
    if re.search(r"<\s*(html|body|head|title|!doctype)\b", text[:2000], re.IGNORECASE):
        text = _TAGS.sub(" ", text)
    return " ".join(text.split())


class RemoteClient:
    """A small JSON-over-HTTP client shared by ``RemoteEmbedder`` and ``RemoteReranker``.

    ``base_url`` is the server's API root (``https://openrouter.ai/api/v1``, ``http://host:8000/v1``);
    request paths are appended to it. ``timeout`` bounds each attempt (seconds, the whole exchange),
    ``deadline`` each call with all its requests, retries and waits (seconds; default 300), ``max_retries`` the retries
    after the first attempt, ``max_concurrency`` the requests of this object in flight at once, whatever
    the threads, calls and event loops, ``max_response_bytes`` the size of an answer after decoding.
    Credentials in ``base_url`` (``user:key@`` or a query value) are used but never shown: ``base_url``
    here is the address with them replaced by ``***``.
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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ):
        self._base = _secrets.parse_base_url(base_url)
        if max_retries < 0 or max_concurrency < 1 or timeout <= 0:
            raise ValueError("need max_retries >= 0, max_concurrency >= 1 and timeout > 0")
        if deadline is not None and deadline <= 0:
            raise ValueError(f"deadline must be > 0 seconds (or None for no overall limit), got {deadline}")
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) or max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be a positive integer, got {max_response_bytes!r}")
        self.base_url = self._base.display  # for people: credentials and query values as ***
        self.api_key = resolve_api_key(api_key, api_key_env)
        if self.api_key is not None and self._base.basic_auth is not None:
            source = "api_key=" if api_key else f"${api_key_env}"
            raise ValueError(f"base_url carries credentials (user:password@) and an API key came from {source}: "
                             "give one (api_key_env=None ignores the variable)")
        self._url_secrets = tuple(s for s in (*self._base.secrets,
                                              self.api_key.get_secret_value() if self.api_key else "") if s)
        if self._url_secrets:
            _secrets.register(self)  # httpx logs request URLs (query and all), httpcore the answers' headers
        _secrets.warn_if_insecure(self._base, self.api_key is not None or self._base.basic_auth is not None)
        self.max_response_bytes = int(max_response_bytes)
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
        """The address of ``path`` as shown in messages (credentials and query values as ``***``)."""
        return self._base.display_url(path)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.extra_headers}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        elif self._base.basic_auth is not None:
            headers["Authorization"] = self._base.basic_auth
        return headers

    def _mask(self, text: str) -> str:
        return _secrets.mask(text, self._url_secrets)

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

    def _server_message(self, response: _Answer) -> str:
        try:
            body = response.json()
        except (ValueError, RecursionError):
            text = _readable(response.text[:4096])
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
        """Server text for a message: the secrets masked FIRST, then cut (a cut key would escape the mask)."""
        longest = max((len(s) for s in self._url_secrets), default=0)
        text = self._mask(text[: limit + longest + 1])  # all that can reach the cut, and every key across it
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def _error_for(self, path: str, response: _Answer) -> RemoteError:
        status = response.status
        message = self._server_message(response)
        endpoint = self.endpoint(path)
        if 300 <= status < 400:
            where = self._clip(response.headers.get("location") or "nowhere (no Location header)", 200)
            return RemoteError(f"{endpoint}: HTTP {status} redirect to {where}; redirects are not followed (one "
                               "could carry the API key to another host): set base_url to the final address",
                               endpoint=endpoint, status=status, server_message=message)
        if status in (401, 403):
            where = (f"check the key in ${self.api_key_env} or pass api_key=" if self.api_key_env
                     else "check api_key=")
            hint = "no API key was sent; " if self.api_key is None else "the API key was rejected; "
            return AuthenticationError(
                f"{endpoint}: authentication failed (HTTP {status}): {hint}{where}. Server said: {message or '-'}",
                endpoint=endpoint, status=status, server_message=message)
        return RemoteError(f"{endpoint} failed with HTTP {status}: {message or response.reason}",
                           endpoint=endpoint, status=status, server_message=message)

    def _decode(self, path: str, response: _Answer) -> Any:
        endpoint = self.endpoint(path)
        try:
            body = response.json()
        except RecursionError:
            raise RemoteResponseError(f"{endpoint}: HTTP {response.status} but the JSON body is nested too deep "
                                      "to parse", endpoint=endpoint, status=response.status) from None
        except ValueError:
            snippet = self._clip(_readable(response.text[:4096]), 200)
            encoding = response.encoding.strip()
            why = f" (sent with Content-Encoding: {encoding[:40]})" if encoding and encoding != "identity" else ""
            raise RemoteResponseError(
                f"{endpoint}: HTTP {response.status} but the body is not JSON{why}: {snippet!r}",
                endpoint=endpoint, status=response.status, server_message=snippet) from None
        if isinstance(body, dict) and body.get("error") and not any(k in body for k in ("data", "results")):
            message = self._server_message(response)
            raise RemoteResponseError(f"{endpoint}: HTTP {response.status} but the body is an error: {message}",
                                      endpoint=endpoint, status=response.status, server_message=message)
        return body

    def _too_large(self, path: str, status: int) -> RemoteResponseError:
        endpoint = self.endpoint(path)
        return RemoteResponseError(f"{endpoint}: HTTP {status} answer larger than max_response_bytes="
                                   f"{self.max_response_bytes} (after decoding); not read further",
                                   endpoint=endpoint, status=status)

    def _undecodable(self, path: str, exc: Exception) -> RemoteResponseError:
        endpoint = self.endpoint(path)
        return RemoteResponseError(f"{endpoint}: the answer could not be decoded ({type(exc).__name__}: "
                                   f"{self._clip(str(exc), 200)})", endpoint=endpoint)

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

    def _request(self, client: httpx.Client | httpx.AsyncClient, path: str, payload: dict[str, Any],
                 budget: float) -> httpx.Request:
        httpx = _httpx()

        return client.build_request("POST", self._base.request_url(path), json=payload, headers=self._headers(),
                                    timeout=httpx.Timeout(budget))

    def _answer(self, response: _Response, chunks: list[bytes]) -> _Answer:
        return _Answer(response.status_code, response.reason_phrase, response.headers, b"".join(chunks),
                       response.headers.get("content-encoding", ""))

    def _attempt_sync(self, client: httpx.Client, path: str, payload: dict[str, Any], budget: float) -> _Answer:
        """One request whose whole exchange, body included, ends within ``budget`` seconds."""
        httpx = _httpx()

        started = time.monotonic()
        request = self._request(client, path, payload, budget)
        response = client.send(request, stream=True)
        try:
            chunks, size = [], 0
            for chunk in response.iter_bytes():  # decoded: the limit holds for what a bomb expands to
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise self._too_large(path, response.status_code)
                chunks.append(chunk)
                if time.monotonic() - started > budget:  # a server trickling bytes within each read timeout
                    raise httpx.ReadTimeout(f"answer not complete after {budget:g} s", request=request)
        finally:
            response.close()
        return self._answer(response, chunks)

    async def _attempt_async(self, client: httpx.AsyncClient, path: str, payload: dict[str, Any],
                             budget: float) -> _Answer:
        httpx = _httpx()

        request = self._request(client, path, payload, budget)
        try:
            return await asyncio.wait_for(self._send_async(client, path, request), budget)
        except asyncio.TimeoutError:
            raise httpx.ReadTimeout(f"answer not complete after {budget:g} s", request=request) from None

    async def _send_async(self, client: httpx.AsyncClient, path: str, request: httpx.Request) -> _Answer:
        response = await client.send(request, stream=True)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise self._too_large(path, response.status_code)
                chunks.append(chunk)
        finally:
            await response.aclose()
        return self._answer(response, chunks)

    def _outcome(self, path: str, response: _Answer, attempt: int) -> tuple[bool, Any, float]:
        """(done, result, delay): the decoded answer, or the delay before the next attempt; raises if final."""
        if response.is_success:
            return True, self._decode(path, response), 0.0
        if not _retryable(response.status) or attempt >= self.max_retries:
            raise self._error_for(path, response)
        delay = self._backoff(attempt, parse_retry_after(response.headers.get("Retry-After")))
        self._log_retry(path, f"HTTP {response.status}", delay, attempt)
        return False, None, delay

    def _failed(self, path: str, error: Exception, attempt: int) -> float:
        if attempt >= self.max_retries:
            raise self._transport_error(path, error, attempt + 1) from None
        delay = self._backoff(attempt, None)
        self._log_retry(path, type(error).__name__, delay, attempt)
        return delay

    def _no_slot(self, path: str, attempt: int) -> RemoteError:
        return self._past_deadline(path, attempt, f"no request slot free (max_concurrency={self.max_concurrency})")

    def _budget(self, path: str, started: float, attempt: int) -> float:
        """Seconds the next attempt may take: ``timeout``, cut to what is left of the deadline."""
        budget = min(self.timeout, self._remaining(started))
        if budget <= 0:
            raise self._past_deadline(path, attempt, "no time left for another attempt")
        return budget

    def _retryable_error(self, path: str, error: Exception, attempt: int) -> Exception:
        """``error`` (an httpx error of one attempt) when a retry may follow it: a timeout or a transport failure;
        raises the final ``RemoteError`` for anything else."""
        httpx = _httpx()

        if isinstance(error, (httpx.TimeoutException, httpx.TransportError)):
            return cast(Exception, error)  # isinstance against the lazily imported module narrows to Any
        if isinstance(error, httpx.DecodingError):
            raise self._undecodable(path, error) from None
        raise self._transport_error(path, error, attempt + 1) from None

    def _settle(self, path: str, started: float, attempt: int, outcome: _Answer | Exception) -> tuple[bool, Any, float]:
        """After an attempt (its answer or its retryable error): (True, decoded answer, 0.0), or (False, None, the
        delay before the next attempt); raises when the call is over (a final error, no retries or time left)."""
        if isinstance(outcome, Exception):
            if self._remaining(started) <= 0:
                raise self._past_deadline(path, attempt + 1, f"the last attempt was cut: {type(outcome).__name__}")
            delay = self._failed(path, outcome, attempt)
        else:
            done, result, delay = self._outcome(path, outcome, attempt)
            if done:
                return True, result, 0.0
        if delay >= self._remaining(started):
            raise self._past_deadline(path, attempt + 1, f"the next retry would start {delay:.2f} s from now")
        return False, None, delay

    def _try_sync(self, client: httpx.Client, path: str, payload: dict[str, Any], started: float,
                  attempt: int) -> _Answer | Exception:
        """One attempt, holding a request slot: its answer, or its retryable error (see ``_retryable_error``)."""
        httpx = _httpx()

        remaining = self._remaining(started)
        if not self._slots.acquire(timeout=None if remaining == float("inf") else max(remaining, 0)):
            raise self._no_slot(path, attempt)
        try:
            return self._attempt_sync(client, path, payload, self._budget(path, started, attempt))
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            return self._retryable_error(path, exc, attempt)
        finally:
            self._slots.release()

    async def _acquire_slot(self, started: float) -> bool:
        pause = _SLOT_POLL_S[0]
        while not self._slots.acquire(blocking=False):  # a thread lock: shared with threads and other loops
            if self._remaining(started) <= 0:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, _SLOT_POLL_S[1])
        return True

    async def _try_async(self, client: httpx.AsyncClient, path: str, payload: dict[str, Any], started: float,
                         attempt: int) -> _Answer | Exception:
        """``_try_sync`` for asyncio: the same slots, waited for without blocking the loop."""
        httpx = _httpx()

        if not await self._acquire_slot(started):
            raise self._no_slot(path, attempt)
        try:
            return await self._attempt_async(client, path, payload, self._budget(path, started, attempt))
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            return self._retryable_error(path, exc, attempt)
        finally:
            self._slots.release()

    # post and apost differ only in their I/O: the attempt and the wait; every decision is in _settle.
    def post(self, path: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` as JSON to ``base_url + path``; the decoded JSON answer, or a ``RemoteError``."""
        client = self._sync_client()
        started = _CALL_STARTED.get() or time.monotonic()
        attempt = 0
        while True:
            outcome = self._try_sync(client, path, payload, started, attempt)
            done, result, delay = self._settle(path, started, attempt, outcome)
            if done:
                return result
            time.sleep(delay)
            attempt += 1

    async def apost(self, path: str, payload: dict[str, Any]) -> Any:
        """``post`` for asyncio; the same ``max_concurrency`` slots as the sync path, the same deadline."""
        client = await self._async_client()
        started = _CALL_STARTED.get() or time.monotonic()
        attempt = 0
        while True:
            outcome = await self._try_async(client, path, payload, started, attempt)
            done, result, delay = self._settle(path, started, attempt, outcome)
            if done:
                return result
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
