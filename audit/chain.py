"""Hashing and verification of the audit chain (no Django needed for the arithmetic)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_ref",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "changed_fields",
    "data",
    "ip",
    "request_id",
    "prev_hash",
)


def format_time(value: datetime) -> str:
    """Return the canonical UTC timestamp: ISO 8601 with microseconds and a Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Mapping[str, Any]) -> str:
    """Return the canonical JSON of the hashed fields (sorted keys, no spaces, UTF-8)."""
    body = {}
    for name in HASHED_FIELDS:
        value = row[name]
        if isinstance(value, datetime):
            value = format_time(value)
        body[name] = value
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_hash(row: Mapping[str, Any]) -> str:
    """Return sha256(prev_hash + canonical JSON) as hex."""
    return hashlib.sha256((row["prev_hash"] + canonical(row)).encode("utf-8")).hexdigest()


@dataclass
class Verification:
    ok: bool
    count: int
    last_seq: int
    last_hash: str
    first_bad_seq: int | None = None
    reason: str = ""


def verify_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    start_seq: int = 1,
    start_prev_hash: str = GENESIS_HASH,
    head: tuple[int, str] | None = None,
) -> Verification:
    """Walk rows in seq order; report the first sequence number where the chain breaks."""
    expected_seq = start_seq
    prev = start_prev_hash
    count = 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            reason = (
                f"seq {expected_seq} is missing (next row is {seq})"
                if seq > expected_seq
                else f"seq {seq} is out of order"
            )
            return Verification(
                False, count, expected_seq - 1, prev, min(seq, expected_seq), reason
            )
        if row["prev_hash"] != prev:
            return Verification(
                False, count, seq - 1, prev, seq, "prev_hash does not match the previous row's hash"
            )
        digest = compute_hash(row)
        if digest != row["hash"]:
            return Verification(
                False, count, seq - 1, prev, seq, "row content does not match its hash"
            )
        prev = digest
        expected_seq += 1
        count += 1
    last_seq = expected_seq - 1
    if head is not None:
        head_seq, head_hash = head
        if head_seq > last_seq:
            return Verification(
                False,
                count,
                last_seq,
                prev,
                last_seq + 1,
                f"seq {last_seq + 1}..{head_seq} missing at the end (chain head is {head_seq})",
            )
        if head_seq < last_seq:
            return Verification(
                False,
                count,
                last_seq,
                prev,
                head_seq + 1,
                f"rows after the chain head (head is {head_seq})",
            )
        if head_hash != prev:
            return Verification(
                False,
                count,
                last_seq,
                prev,
                last_seq,
                "chain head hash does not match the last row",
            )
    return Verification(True, count, last_seq, prev)
