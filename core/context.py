"""Per-request context (request id, client IP) for logs and audit rows."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None


# RequestContext is a frozen dataclass, so a shared default instance is safe.
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "welddesk_request_context",
    default=RequestContext(),  # noqa: B039
)


def current() -> RequestContext:
    """Return the context of the request being served (empty outside a request)."""
    return _current.get()


def bind(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)
