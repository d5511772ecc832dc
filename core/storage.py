"""Uploads through the storage API only, wherever they are kept (the local disk, or a private
bucket: `core.s3`): how a permission-checked download leaves the desk, and the sweep of files
whose upload was rolled back. No code of the desk reads an upload by a local path."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect

# Served for display (not downloaded): raster images only, never SVG or HTML.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
OPAQUE = "application/octet-stream"


def signed_redirect(
    stored: Any, *, filename: str, content_type: str, inline: bool = False
) -> HttpResponse | None:
    """For a file in an object store, the answer to a download the caller has authorised: a
    redirect to a URL signed for S3_SIGNED_URL_SECONDS. None when the storage signs no URLs
    (the local disk): the caller serves the file itself, as before.

    The store cannot add nosniff or a sandbox to its answer, so the URL asks for what makes
    them moot: a download (Content-Disposition: attachment) typed application/octet-stream,
    except a raster image the caller shows inline, typed as checked on upload.
    """
    sign = getattr(stored.storage, "signed_url", None)
    if sign is None:
        return None
    inline = inline and content_type in INLINE_TYPES
    url = sign(
        stored.name,
        expire=settings.S3_SIGNED_URL_SECONDS,
        filename=filename,
        content_type=content_type if inline else OPAQUE,
        inline=inline,
    )
    response = HttpResponseRedirect(url)
    # The signed URL is a short-lived key: it goes to no other site as a referrer.
    response["Referrer-Policy"] = "no-referrer"
    return response


def stored_files(storage: Any, prefix: str) -> Iterator[tuple[str, float]]:
    """Every file under `prefix` (at any depth) as (storage name, modification time in epoch
    seconds), through the storage API: an object store lists them in pages, the local disk
    directory by directory."""
    listing = getattr(storage, "list_files", None)
    if listing is not None:
        yield from listing(prefix)
        return
    try:
        directories, files = storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in files:
        path = f"{prefix}/{name}"
        try:
            yield path, storage.get_modified_time(path).timestamp()
        except FileNotFoundError:
            continue  # deleted meanwhile
    for directory in directories:
        yield from stored_files(storage, f"{prefix}/{directory}")


def sweep_orphans(
    *,
    storage: Any,
    prefix: str,
    known: Callable[[Iterable[uuid.UUID]], set[uuid.UUID]],
    older_than_s: int,
    batch: int = 1000,
) -> int:
    """Delete the files under `prefix` named by a storage key that no row has; return how
    many. `known(keys)` answers which of the keys rows still hold.

    A file is written before its row is committed, so an upload whose transaction rolled back
    leaves its file behind. Files younger than `older_than_s` are left alone: their
    transaction may still be running. A file not named by a UUID is not ours and stays.
    """
    cutoff = time.time() - older_than_s
    candidates: dict[uuid.UUID, str] = {}
    removed = 0

    def flush() -> int:
        kept = known(list(candidates))
        n = 0
        for key, name in candidates.items():
            if key not in kept:
                storage.delete(name)
                n += 1
        candidates.clear()
        return n

    for name, modified in stored_files(storage, prefix):
        try:
            key = uuid.UUID(name.rsplit("/", 1)[-1])
        except ValueError:
            continue
        if modified < cutoff:
            candidates[key] = name
            if len(candidates) >= batch:
                removed += flush()
    if candidates:
        removed += flush()
    return removed
