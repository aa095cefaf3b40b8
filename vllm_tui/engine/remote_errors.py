"""What went wrong talking to a vLLM server, in words a user can act on.

httpx's exceptions and the server's HTTP statuses become a `RemoteError` with a title (what
happened), a reason (the detail, the server's own message when it sent one) and advice (what to do).
The API key itself never appears here: only the name of the variable that should hold it.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from vllm_tui.engine.errors import explain
from vllm_tui.engine.sse import error_message

_GENERIC_TITLE = "The engine failed"
"""What `errors.explain` answers for a message it has no rule for."""


class RemoteError(Exception):
    """A user-facing failure talking to the server: what went wrong, the detail, what to do."""

    def __init__(self, title: str, reason: str = "", advice: str = "") -> None:
        super().__init__(title)
        self.title = title
        self.reason = reason
        self.advice = advice


@dataclass(frozen=True)
class ServerContext:
    """What the messages mention: where, which model, which key variable, which profile."""

    base_url: str
    model: str
    models: tuple[str, ...]
    api_key_env: str
    profile: str
    connect_timeout: float
    read_timeout: float

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url


def transport_error(exc: httpx.HTTPError, ctx: ServerContext, *, streaming: bool) -> RemoteError:
    """`streaming`: the answer had started arriving (a silence or a closed socket now means the
    server hung or died mid-answer, not that it was never there)."""
    host = ctx.host
    if isinstance(exc, httpx.ConnectTimeout):
        return RemoteError(
            f"Timed out connecting to {host}",
            f"No answer to the connection attempt within {ctx.connect_timeout:g} s.",
            "Check that the host is reachable (firewall, VPN, SSH tunnel) and the port is right.",
        )
    if isinstance(exc, httpx.ConnectError):
        cause = root_os_error(exc)
        if isinstance(cause, socket.gaierror):
            hostname = urlsplit(ctx.base_url).hostname or host
            return RemoteError(
                f"Cannot find the host {hostname!r}",
                f"DNS lookup failed: {cause.strerror or cause}.",
                "Check the host name in server_url (or use an IP address).",
            )
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return RemoteError(
                f"Connection refused by {host}",
                "Nothing is listening on that port.",
                "Start the server (vllm serve <model> --port …), or check the port in server_url "
                "and that any SSH tunnel is up.",
            )
        return RemoteError(
            f"Cannot connect to {host}", str(cause or exc), "Check server_url and that the server is running."
        )
    if isinstance(exc, httpx.ReadTimeout):
        if streaming:
            return RemoteError(
                "The server stopped sending",
                f"No data for {ctx.read_timeout:g} s in the middle of the answer; the request was dropped.",
                "The server may be hung or overloaded: check its log. The answer so far is kept.",
            )
        return RemoteError(
            f"{host} did not answer in time",
            f"No response within {ctx.read_timeout:g} s.",
            "The server may be busy (a long prompt, many requests) or hung: check its log.",
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return RemoteError(
            "The server closed the connection" + (" mid-answer" if streaming else ""),
            str(exc) or type(exc).__name__,
            "The server may have crashed or been restarted: check its log, then send the message "
            "again. The answer so far is kept.",
        )
    if isinstance(exc, httpx.TimeoutException):
        return RemoteError(
            f"Timed out talking to {host}", type(exc).__name__, "Check the network and the server."
        )
    return RemoteError(
        f"Network error talking to {host}",
        f"{type(exc).__name__}: {exc}",
        "Check server_url and that the server is running.",
    )


def status_error(status: int, text: str, ctx: ServerContext) -> RemoteError:
    """A non-200 answer; `text` is its body (vLLM sends a JSON error object)."""
    try:
        message = error_message(json.loads(text)) or text
    except ValueError:
        message = text
    message = message.strip()[:400] or f"HTTP {status}"
    env = ctx.api_key_env
    if status in (401, 403):
        if os.environ.get(env):
            return RemoteError(
                f"The server rejected the API key in ${env}",
                f"HTTP {status}: {message}",
                f"Set {env} to the key the server was started with (vllm serve --api-key …), then reconnect.",
            )
        return RemoteError(
            f"The server needs an API key: ${env} is not set",
            f"HTTP {status}: {message}",
            f"Export {env}=<the server's --api-key> before starting vllm-tui "
            "(or name another variable in the profile's api_key_env).",
        )
    if status == 404:
        if "model" in message.lower():
            served = ", ".join(ctx.models) or "see the model picker"
            return RemoteError(
                f"The server does not serve {ctx.model!r}",
                message,
                f"The server has: {served}. Pick one in the model picker, or set engine.model in "
                f"profile {ctx.profile!r}.",
            )
        return RemoteError(
            f"No OpenAI-compatible API at {ctx.base_url}",
            f"HTTP 404: {message}",
            "Check server_url: it should be the vLLM server's address, e.g. http://host:8000/v1",
        )
    if status >= 500:
        return RemoteError(
            f"The server failed (HTTP {status})",
            message,
            "This is a server-side error: check the vLLM server's log.",
        )
    if status == 400:
        ex = explain(message)
        if ex.title != _GENERIC_TITLE:
            return RemoteError(ex.title, ex.reason, ex.advice)
        return RemoteError(
            "The server rejected the request",
            message,
            "Check the sampling settings (Settings) against the server's limits.",
        )
    return RemoteError(
        f"Unexpected answer from the server (HTTP {status})",
        message,
        "Check server_url and the server's log.",
    )


def stream_error(message: str, *, malformed: bool) -> RemoteError:
    """An error event inside the stream, or data that is not a chat-completion chunk."""
    if malformed:
        return RemoteError(
            "The server sent something that is not a chat-completion chunk",
            message,
            "Check server_url: it should point at a vLLM (OpenAI-compatible) server, not a proxy or "
            "another service.",
        )
    ex = explain(message)
    title = ex.title if ex.title != _GENERIC_TITLE else "The server reported an error mid-answer"
    return RemoteError(title, ex.reason, "The server's log has the details; the answer so far is kept.")


def root_os_error(exc: BaseException) -> BaseException | None:
    """The innermost OSError under httpx's and anyio's wrappers (gaierror, ConnectionRefusedError)."""
    found: BaseException | None = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            found = current
        current = current.__cause__ or current.__context__
    return found
