"""Small registry through which higher apps react to account events.

accounts sits below notifications, so it cannot call it; notifications registers here instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_password_changed: list[Callable[..., Any]] = []


def on_password_changed(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register func(user=...) to run inside the password-change transaction."""
    if func not in _password_changed:
        _password_changed.append(func)
    return func


def password_changed(*, user: Any) -> None:
    for func in _password_changed:
        func(user=user)


_password_reset_requested: list[Callable[..., Any]] = []


def on_password_reset_requested(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register func(user=..., link=...) to send a password reset link."""
    if func not in _password_reset_requested:
        _password_reset_requested.append(func)
    return func


def password_reset_requested(*, user: Any, link: str) -> None:
    for func in _password_reset_requested:
        func(user=user, link=link)
