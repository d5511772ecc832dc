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


def s3_storage_options(*, signed_url_seconds: int) -> dict:
    """The options of `core.s3.PrivateS3Storage` from the S3_* variables (docs/operations.md,
    "Uploads in object storage"). The keys come from the environment only; left empty, boto3
    looks for them where it always does (an instance role, ~/.aws). A missing bucket is a
    refusal to start, not uploads that fail one by one."""
    bucket = env_str("S3_BUCKET").strip()
    if not bucket:
        raise ImproperlyConfigured(
            "STORAGE_BACKEND=s3 but S3_BUCKET is not set. WeldDesk will not start without it: "
            "uploads would have nowhere to go. Set S3_BUCKET to the name of a private bucket "
            "made for the desk (and S3_ENDPOINT_URL for MinIO or another S3-compatible store), "
            "or STORAGE_BACKEND=local to keep uploads on the local disk."
        )
    endpoints = {}
    for name in ("S3_ENDPOINT_URL", "S3_PUBLIC_ENDPOINT_URL"):
        value = env_str(name).strip().rstrip("/")
        if value and not absolute_http_url(value):
            raise ImproperlyConfigured(
                f"{name} must be an absolute http(s) address such as http://minio:9000 "
                f"(got {value!r})."
            )
        endpoints[name] = value or None
    encryption = env_str("S3_SERVER_SIDE_ENCRYPTION").strip()
    if encryption not in ("", "AES256", "aws:kms"):
        raise ImproperlyConfigured(
            f"S3_SERVER_SIDE_ENCRYPTION must be empty, AES256 or aws:kms (got {encryption!r})."
        )
    acl = env_str("S3_DEFAULT_ACL", "private").strip()
    if acl not in ("", "private", "bucket-owner-full-control"):
        raise ImproperlyConfigured(
            "S3_DEFAULT_ACL must be private, bucket-owner-full-control or empty (no ACL sent, "
            f"for a bucket whose ACLs are turned off); uploads are never public (got {acl!r})."
        )
    if signed_url_seconds < 1 or signed_url_seconds > 3600:
        raise ImproperlyConfigured(
            f"S3_SIGNED_URL_SECONDS must be between 1 and 3600 (got {signed_url_seconds})."
        )
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoints["S3_ENDPOINT_URL"],
        "public_endpoint_url": endpoints["S3_PUBLIC_ENDPOINT_URL"],
        "region_name": env_str("S3_REGION").strip() or None,
        "access_key": env_str("S3_ACCESS_KEY").strip() or None,
        "secret_key": env_str("S3_SECRET_KEY").strip() or None,
        "location": env_str("S3_PREFIX").strip().strip("/"),
        "default_acl": acl or None,
        "querystring_auth": True,
        "querystring_expire": signed_url_seconds,
        "file_overwrite": False,
        "signature_version": "s3v4",
        # MinIO and most S3-compatible stores answer path-style (endpoint/bucket/key).
        "addressing_style": "path" if endpoints["S3_ENDPOINT_URL"] else None,
        "object_parameters": {"ServerSideEncryption": encryption} if encryption else {},
        # A file read back (the virus rescan, the data export) spills to disk past 2 MB.
        "max_memory_size": 2 * 1024 * 1024,
    }
