"""Errors of the remote backends: each names the endpoint, the HTTP status and what the server said."""

from __future__ import annotations

from ..errors import Qwen3RagError


class RemoteError(Qwen3RagError, RuntimeError):
    """A request to an embedding / reranking server failed for good (after any retries).

    ``endpoint`` is ``METHOD URL``, ``status`` the HTTP status (None when no response came back),
    ``server_message`` the server's own explanation, when it gave one.
    """

    def __init__(self, message: str, *, endpoint: str, status: int | None = None, server_message: str = ""):
        self.endpoint = endpoint
        self.status = status
        self.server_message = server_message
        super().__init__(message)


class AuthenticationError(RemoteError):
    """401/403: the API key is missing, wrong or lacks access. Never retried."""


class RemoteResponseError(RemoteError):
    """The server answered but the body is unusable: not JSON, too large, compressed beyond decoding, the
    wrong shape or count, or a vector that is not finite, zero or of the wrong size. ``index`` is the
    caller's item the bad part belongs to, when there is one."""

    def __init__(self, message: str, *, endpoint: str, status: int | None = None, server_message: str = "",
                 index: int | None = None):
        self.index = index
        super().__init__(message, endpoint=endpoint, status=status, server_message=server_message)


class InsecureKeyWarning(UserWarning):
    """An API key is about to be sent over plain http:// to a host that is not this machine."""
