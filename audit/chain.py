"""Hashing and verification of the audit chain (no Django needed for the arithmetic)."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
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


# The fields that differ between the events of a run (hasher()).
_RUN_FIELDS = ("seq", "prev_hash", "target_id")


def hasher(row: Mapping[str, Any]) -> Callable[[int, str, str], str]:
    """Return hash_of(seq, prev_hash, target_id): compute_hash(row) with those three replaced.

    A bulk write chains thousands of events that differ only in them (one action and payload
    naming many targets): the canonical JSON is built once, with a mark in each of the three
    places, and each event only fills them in, a fifth of the cost of compute_hash, which
    stays the definition (the tests compare the two). `prev_hash` and `target_id` are strings.
    """
    marks = {name: f"@{name}:{secrets.token_hex(8)}@" for name in _RUN_FIELDS}
    text = canonical({**row, **marks})
    places = []
    for name, mark in marks.items():
        token = json.dumps(mark)
        if text.count(token) != 1:  # a value of the row holds the mark: take the slow way
            return lambda seq, prev, target_id: compute_hash(
                {**row, "seq": seq, "prev_hash": prev, "target_id": target_id}
            )
        places.append((text.index(token), name, token))
    places.sort()
    # One format string: the JSON around the marks (its braces doubled), a slot for each.
    template, rest = "", text
    for _at, name, token in places:
        head, rest = rest.split(token, 1)
        template += head.replace("{", "{{").replace("}", "}}") + "{" + name + "}"
    template += rest.replace("{", "{{").replace("}", "}}")

    def hash_of(seq: int, prev: str, target_id: str) -> str:
        body = template.format(seq=int(seq), prev_hash=_string(prev), target_id=_string(target_id))
        return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()

    return hash_of


def _string(value: str) -> str:
    """The JSON of a string as canonical() writes it (digits and hex need no escaping)."""
    if value.isascii() and value.isalnum():
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Verification:
    ok: bool
    count: int
    last_seq: int
    last_hash: str
    first_bad_seq: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Anchor:
    """A (seq, hash) pair known from outside the chain, e.g. a signed checkpoint."""

    seq: int
    hash: str
    label: str


def _short(digest: str) -> str:
    return digest[:16]


def verify_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    start_seq: int = 1,
    start_prev_hash: str = GENESIS_HASH,
    head: tuple[int, str] | None = None,
    anchors: Iterable[Anchor] = (),
) -> Verification:
    """Walk rows in seq order; report the first sequence number where the chain breaks.

    Each anchor must match the chain: the event at its seq has its hash (the empty chain for
    seq 0). The walk alone cannot see a tail cut off together with the head moved back, nor a
    history rewritten with fresh hashes; an anchor made before the tampering can.
    """
    pinned: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        if anchor.seq >= start_seq - 1:  # a walk of part of the chain checks its own part
            pinned.setdefault(anchor.seq, []).append(anchor)
    confirmed = start_seq - 1  # the highest seq an anchor has confirmed so far
    for anchor in pinned.pop(start_seq - 1, []):
        if anchor.hash != start_prev_hash:
            return Verification(
                False,
                0,
                start_seq - 1,
                start_prev_hash,
                start_seq,
                f"{anchor.label} says the chain starts after seq {anchor.seq} with hash "
                f"{_short(anchor.hash)}, not {_short(start_prev_hash)}",
            )
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
        for anchor in pinned.pop(seq, ()):
            if anchor.hash != digest:
                return Verification(
                    False,
                    confirmed - start_seq + 1,
                    confirmed,
                    prev,
                    confirmed + 1,
                    f"events {confirmed + 1}..{seq} differ from what {anchor.label} signed: "
                    f"the hash at seq {seq} is {_short(digest)}, the checkpoint's is "
                    f"{_short(anchor.hash)} (rewritten after the checkpoint was made)",
                )
            confirmed = seq
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
    beyond = [anchor for seq_anchors in pinned.values() for anchor in seq_anchors]
    if beyond:
        # Anchors past the end: the chain lost events they covered. Name the widest gap.
        anchor = max(beyond, key=lambda a: a.seq)
        return Verification(
            False,
            count,
            last_seq,
            prev,
            last_seq + 1,
            f"{anchor.label} covers seq 1..{anchor.seq} with hash {_short(anchor.hash)}, the "
            f"chain ends at seq {last_seq}: events {last_seq + 1}..{anchor.seq} missing",
        )
    return Verification(True, count, last_seq, prev)
