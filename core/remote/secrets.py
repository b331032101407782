"""Secrets of a remote client: the API key and whatever credentials ``base_url`` carries.

One job: keep them out of everything a person reads (``repr``, error messages, logs). ``base_url`` may
carry a key (``https://user:key@host/v1`` or ``...?key=...``): requests go to the real address, while
messages and ``repr`` show it with the credentials and the query values replaced by ``***``. Server text
is masked before it is shown: not only the whole key but every run of 4 or more of its characters (a
server echoing the key minus its last 4 characters, or ``sk-...abcd``, leaks no part of it). httpx logs
each request's URL at INFO level and httpcore the answer's headers at DEBUG: a filter on their loggers
masks the same secrets there.

An API key sent over plain ``http://`` to a host that is not loopback crosses the network readable by
anyone on the path: the client warns once per host (``InsecureKeyWarning``; turn it into an error with
``warnings.simplefilter("error", InsecureKeyWarning)``). It is a warning rather than a refusal because
vLLM on a private network behind ``--api-key`` is a common, deliberate setup.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import threading
import warnings
import weakref
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .errors import InsecureKeyWarning

MASK = "**********"
MIN_MASKED_RUN = 4  # a run of this many characters of a secret is masked wherever it appears

_WARNED_HOSTS: set[str] = set()
_WARN_LOCK = threading.Lock()


@dataclass(frozen=True)
class BaseURL:
    """``base_url`` split into what requests use and what people see."""

    request_root: str  # scheme://host[:port]/path, no credentials, no query
    query: str  # the query string as given (may hold a key), appended to every request URL
    display: str  # the address with credentials and query values replaced by ***
    scheme: str
    host: str
    basic_auth: str | None  # "Basic ..." from user:password@, else None
    secrets: tuple[str, ...]  # the password and the query values, for masking

    def request_url(self, path: str) -> str:
        url = self.request_root + "/" + path.lstrip("/")
        return url + "?" + self.query if self.query else url

    def display_url(self, path: str) -> str:
        root, _, query = self.display.partition("?")
        url = root + "/" + path.lstrip("/")
        return url + "?" + query if query else url


def parse_base_url(base_url: str) -> BaseURL:
    """Split and check ``base_url`` (http or https, a host); a ValueError that never repeats a credential."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        shown = redact(base_url) if isinstance(base_url, str) else repr(base_url)
        raise ValueError(f"base_url must start with http:// or https://, got {shown!r}")
    parts = urlsplit(base_url)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"base_url has an invalid port: {redact(base_url)!r}") from None
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"base_url has no host: {redact(base_url)!r}")
    if parts.fragment:
        raise ValueError(f"base_url must not have a #fragment: {redact(base_url)!r}")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    root = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    basic = None
    if parts.username is not None or parts.password is not None:
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    secrets = tuple(s for s in [password, *(v for _, v in parse_qsl(parts.query, keep_blank_values=True))] if s)
    display_root = f"{parts.scheme}://{'***@' if basic else ''}{netloc}{parts.path.rstrip('/')}"
    display_query = "&".join(f"{quote(k)}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    display = display_root + ("?" + display_query if display_query else "")
    return BaseURL(root, parts.query, display, parts.scheme, host, basic, secrets)


def redact(url: str) -> str:
    """``url`` with any user:password@ and query values replaced (for messages about a URL not yet parsed)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<unparseable URL>"
    auth = "***@" if "@" in parts.netloc else ""
    query = "&".join(f"{quote(k)}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return f"{parts.scheme}://{auth}{host}{port}{parts.path}" + ("?" + query if query else "")


def mask(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every run of ``MIN_MASKED_RUN`` or more characters of any secret replaced by ``MASK``
    (a secret shorter than that is masked where it appears whole)."""
    if not text:
        return text
    covered = bytearray(len(text))
    for secret in secrets:
        if not secret:
            continue
        k = min(MIN_MASKED_RUN, len(secret))
        windows = {secret[i:i + k] for i in range(len(secret) - k + 1)}
        for i in range(len(text) - k + 1):
            if text[i:i + k] in windows:
                covered[i:i + k] = b"\x01" * k
    if not any(covered):
        return text
    out, i = [], 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append(MASK)
        else:
            j = i
            while j < len(text) and not covered[j]:
                j += 1
            out.append(text[i:j])
            i = j
    return "".join(out)


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_insecure(url: BaseURL, sends_key: bool) -> None:
    """Warn once per host when a key would travel over plain http to a host that is not this machine."""
    if not sends_key or url.scheme != "http" or is_loopback(url.host):
        return
    with _WARN_LOCK:
        if url.host in _WARNED_HOSTS:
            return
        _WARNED_HOSTS.add(url.host)
    warnings.warn(f"an API key will be sent over plain http:// to {url.host}, readable by anyone on the network "
                  "path; use https://, or keep the server on this machine", InsecureKeyWarning, stacklevel=4)


class _RedactFilter(logging.Filter):
    """Masks the secrets of live clients in the transport's log records (request URLs, answer headers)."""

    def __init__(self) -> None:
        super().__init__()
        self.owners: weakref.WeakSet[object] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = tuple(s for owner in list(self.owners) for s in getattr(owner, "_url_secrets", ()))
        if secrets:
            message = record.getMessage()
            masked = mask(message, secrets)
            if masked != message:
                record.msg, record.args = masked, None
        return True


_FILTER = _RedactFilter()
# A logger's filters see only the records logged on it, not its children's: each httpcore module by name.
for _name in ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
              "httpcore.socks"):
    logging.getLogger(_name).addFilter(_FILTER)


def register(owner: object) -> None:
    """Have the transport's log records masked for ``owner._url_secrets`` while ``owner`` lives."""
    _FILTER.owners.add(owner)
