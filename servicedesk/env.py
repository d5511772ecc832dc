"""Read configuration from the environment, and make development secrets under var/."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """Return the variable's value, or the default when it is unset."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    """Return a yes/no variable; an unrecognised word is a configuration error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off (got {raw!r})."
    )


def env_int(name: str, default: int) -> int:
    """Return an integer variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer (got {raw!r}).") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Return a comma-separated variable as a list with blanks dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_pairs(name: str) -> list[tuple[str, str]]:
    """Return a comma list of `key=value` pairs, in order ("desk-agents=agent,desk-east=east").

    A key may appear more than once (one group giving two roles); a part without "=" or with
    an empty side is a configuration error.
    """
    pairs = []
    for part in env_list(name):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ImproperlyConfigured(
                f"{name} must be a comma list of key=value pairs (got {part!r})."
            )
        pairs.append((key.strip(), value.strip()))
    return pairs


def absolute_http_url(value: str) -> bool:
    """Return True for an absolute http(s) URL with a host, such as https://desk.example.com."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _generated(path: Path, make) -> str:
    """Return the secret stored at path, creating it once (race-safe) if absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if value:
            return value
        # Another process created the file and has not written it yet.
        import time

        for _ in range(50):
            time.sleep(0.02)
            value = path.read_text().strip()
            if value:
                return value
        raise ImproperlyConfigured(f"{path} is empty; delete it to generate a new value.") from None
    value = make()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def secret_or_generated(name: str, *, debug: bool, var_dir: Path, make, hint: str) -> str:
    """Return a secret from the environment; in development generate it once into var/.

    With DEBUG off, a missing secret stops the process with a message that says what to set.
    """
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if not debug:
        raise ImproperlyConfigured(
            f"{name} is not set. With DEBUG off WeldDesk will not start without it. {hint}"
        )
    return _generated(var_dir / name.lower(), make)


def make_secret_key() -> str:
    return secrets.token_urlsafe(50)


def make_fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def make_index_key() -> str:
    return secrets.token_hex(32)
