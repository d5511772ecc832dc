"""Compliance export of the audit chain: a streamed ZIP with the events and a signed manifest.

The ZIP holds `audit-events.csv` (or `.jsonl`) and `manifest.json`. The manifest states the
range and filters, the number of events, the SHA-256 of the events file, the first event's
prev_hash and the last event's hash, whether the events are contiguous in the chain, who
exported them and when; it is signed with Ed25519 (`signature`, over the canonical JSON of
the manifest without it). `tools/verify_audit_export.py` checks all of it without Django.

Memory stays flat: rows are read with a server-side cursor in chunks and each chunk is
written through the ZIP writer to the response as it is produced.

CSV cells that a spreadsheet would run as a formula (starting with = + - @, a tab or a
carriage return), and cells starting with a quote, get a leading quote; the verifier drops
exactly one leading quote.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from audit import chain, signing
from audit.models import AuditEvent
from core.errors import ApplicationError
from core.spreadsheet import csv_cell

COLUMNS = (*chain.HASHED_FIELDS, "hash")
FORMATS = ("csv", "jsonl")
CHUNK = 5000


# One key loader for every audit signature (audit.signing); these names stay for callers.
signing_key = signing.signing_key
public_key_b64 = signing.public_key_b64
canonical_manifest = signing.canonical


@dataclass
class Filters:
    """What a compliance officer searched for; empty fields do not filter."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def q(self) -> Q:
        q = Q()
        if self.actor:
            q &= Q(actor_ref=self.actor)
        if self.action.startswith("*"):
            q &= Q(action__endswith=self.action[1:])  # "*.viewed": every read
        elif self.action.endswith("*"):
            q &= Q(action__startswith=self.action[:-1])  # "ticket.*": one kind of record
        elif self.action:
            q &= Q(action=self.action)
        if self.target_type:
            q &= Q(target_type=self.target_type)
        if self.target_id:
            q &= Q(target_id=self.target_id)
        if self.since:
            q &= Q(at__gte=self.since)
        if self.until:
            q &= Q(at__lt=self.until)
        return q

    def as_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "since": chain.format_time(self.since) if self.since else None,
            "until": chain.format_time(self.until) if self.until else None,
        }


def events(filters: Filters) -> QuerySet:
    return AuditEvent.objects.filter(filters.q()).order_by("seq")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        csv_cell(
            chain.format_time(row[name])
            if name == "at"
            else _json(row[name])
            if name in ("changed_fields", "data")
            else row[name]
        )
        for name in COLUMNS
    ]


def _jsonl(row: dict[str, Any]) -> str:
    return _json({**row, "at": chain.format_time(row["at"])}) + "\n"


class _Sink(io.RawIOBase):
    """A write-only stream whose bytes the generator takes out after each chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.written += len(data)
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


@dataclass
class Summary:
    """Filled in while the export streams; the caller audits it at the end."""

    count: int = 0
    sha256: str = ""
    first_seq: int | None = None
    last_seq: int | None = None
    contiguous: bool = True
    manifest: dict[str, Any] = field(default_factory=dict)


def stream(
    *, filters: Filters, fmt: str, exporter: str, summary: Summary | None = None
) -> Iterator[bytes]:
    """Yield the ZIP's bytes: the events file, then the signed manifest."""
    if fmt not in FORMATS:
        raise ApplicationError("Choose CSV or JSON Lines.")
    key = signing_key()
    summary = summary if summary is not None else Summary()
    name = f"audit-events.{fmt}"
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
    digest = hashlib.sha256()
    first_prev = last_hash = None
    previous_seq = None
    with archive.open(name, "w", force_zip64=True) as member:
        text = io.TextIOWrapper(member, encoding="utf-8", newline="", write_through=True)
        if fmt == "csv":
            header = ",".join(COLUMNS) + "\n"
            digest.update(header.encode())
            text.write(header)
        rows = events(filters).values(*COLUMNS).iterator(chunk_size=CHUNK)
        buffer = io.StringIO()
        buffered = csv.writer(buffer, lineterminator="\n")
        for n, row in enumerate(rows, start=1):
            if first_prev is None:
                first_prev, summary.first_seq = row["prev_hash"], row["seq"]
            if previous_seq is not None and row["seq"] != previous_seq + 1:
                summary.contiguous = False
            previous_seq, last_hash = row["seq"], row["hash"]
            if fmt == "csv":
                buffered.writerow(_cells(row))
            else:
                buffer.write(_jsonl(row))
            if n % CHUNK == 0:
                chunk = buffer.getvalue()
                digest.update(chunk.encode())
                text.write(chunk)
                buffer.seek(0)
                buffer.truncate()
                yield sink.take()
            summary.count = n
        chunk = buffer.getvalue()
        digest.update(chunk.encode())
        text.write(chunk)
        text.flush()
        text.detach()
    yield sink.take()
    summary.sha256 = digest.hexdigest()
    summary.last_seq = previous_seq
    manifest = {
        "format": fmt,
        "file": name,
        "filters": filters.as_dict(),
        "count": summary.count,
        "sha256": summary.sha256,
        "first_seq": summary.first_seq,
        "last_seq": summary.last_seq,
        "first_prev_hash": first_prev,
        "last_hash": last_hash,
        "contiguous": summary.contiguous and summary.count > 0,
        "exporter": exporter,
        "exported_at": chain.format_time(timezone.now()),
        "algorithm": "Ed25519",
        "public_key": public_key_b64(key),
    }
    manifest["signature"] = signing.sign(manifest, key)
    summary.manifest = manifest
    archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    archive.close()
    yield sink.take()
