"""Uploads in a private bucket of an S3-compatible store (STORAGE_BACKEND=s3).

Imported only through STORAGES, so the embedded default (the local disk) never loads boto3.
What the rest of the desk relies on is in `core.storage`: a signed URL for one download
(`signed_url`) and a listing with modification times for the orphan sweeps (`list_files`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class PrivateS3Storage(S3Storage):
    """django-storages' S3 backend, for files nobody may fetch without the desk's say.

    Objects are written private (S3_DEFAULT_ACL), never overwritten, and as an opaque download
    (application/octet-stream, Content-Disposition: attachment) whatever type the uploader's
    browser claimed, so even a leaked object address never renders a file in a browser. A
    download's real name and type are given per request in the signed URL (`signed_url`).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._signing = threading.local()

    def get_default_settings(self) -> dict[str, Any]:
        # The address browsers reach the store at, when it differs from the desk's own
        # (S3_PUBLIC_ENDPOINT_URL): URLs are signed for the host they are fetched from.
        return {**super().get_default_settings(), "public_endpoint_url": None}

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_signing", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._signing = threading.local()

    def _get_write_parameters(self, name: str, content: Any = None) -> dict[str, Any]:
        params = super()._get_write_parameters(name, content)
        params["ContentType"] = "application/octet-stream"
        params.pop("ContentEncoding", None)
        params["ContentDisposition"] = "attachment"
        return params

    def _signing_client(self) -> Any:
        if not self.public_endpoint_url:
            return self.connection.meta.client
        client = getattr(self._signing, "client", None)
        if client is None:
            # Signing is local arithmetic: this client never sends a request.
            client = self._create_session().client(
                "s3",
                region_name=self.region_name,
                use_ssl=self.use_ssl,
                endpoint_url=self.public_endpoint_url,
                config=self.client_config,
                verify=self.verify,
            )
            self._signing.client = client
        return client

    def signed_url(
        self, name: str, *, expire: int, filename: str, content_type: str, inline: bool
    ) -> str:
        """A GET URL for one object, valid `expire` seconds, whose answer carries the given
        name, type and disposition and is never cached (the signature covers all of them, so
        the holder cannot change them)."""
        key = self._normalize_name(clean_name(name))
        return self._signing_client().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket_name,
                "Key": key,
                "ResponseContentDisposition": content_disposition_header(not inline, filename),
                "ResponseContentType": content_type,
                "ResponseCacheControl": "private, no-store",
            },
            ExpiresIn=expire,
            HttpMethod="GET",
        )

    def list_files(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Every object under `prefix`, as (storage name, modification time in epoch
        seconds): one request per 1,000 objects, where listdir and get_modified_time would
        ask once per object."""
        path = self._normalize_name(clean_name(prefix)).rstrip("/") + "/"
        strip = len(self.location.rstrip("/") + "/") if self.location else 0
        paginator = self.connection.meta.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket_name, Prefix=path):
            for entry in page.get("Contents", ()):
                yield entry["Key"][strip:], entry["LastModified"].timestamp()
