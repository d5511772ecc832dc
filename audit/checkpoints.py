"""Signed checkpoints of the audit chain and the append-only file they are kept in.

A checkpoint says "the chain had `seq` events and the last one's hash was `hash` at time
`at`", signed with the audit signing key (Ed25519 over the canonical JSON of the other
fields). Because every hash covers all earlier events, a checkpoint pins the whole history up
to its seq: an event of that history deleted, edited or cut off later no longer matches it.

The checkpoints are worth something only where the database's owner cannot rewrite them: one
JSON object per line, appended with O_APPEND to AUDIT_CHECKPOINT_PATH, which in production is
on another host or volume (append-only with `chattr +a`, or synced to an object store with
object lock; docs/security.md). The database keeps a copy for the admin and /metrics.

No Django models here: the sealing service writes, `audit_verify` reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import chain, signing

KIND = "welddesk.audit.checkpoint"
VERSION = 1
_TAIL_BYTES = 64 * 1024


class CheckpointError(Exception):
    """A line of the store that is not a valid, trusted checkpoint (the message says why)."""


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str  # canonical UTC time (chain.format_time)
    public_key: str
    signature: str

    def body(self) -> dict[str, Any]:
        """Return the signed JSON object (what one line of the store holds)."""
        return {
            "kind": KIND,
            "v": VERSION,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "algorithm": signing.ALGORITHM,
            "key_id": signing.key_id(self.public_key),
            "public_key": self.public_key,
            "signature": self.signature,
        }

    def to_line(self) -> str:
        return json.dumps(self.body(), sort_keys=True, separators=(",", ":")) + "\n"

    @property
    def anchor(self) -> chain.Anchor:
        return chain.Anchor(seq=self.seq, hash=self.hash, label=f"the checkpoint of {self.at}")


def make(*, seq: int, hash: str, at: datetime, key: Ed25519PrivateKey) -> Checkpoint:
    """Return a checkpoint of (seq, hash) at the given time, signed with the key."""
    unsigned = Checkpoint(
        seq=seq,
        hash=hash,
        at=chain.format_time(at),
        public_key=signing.public_key_b64(key),
        signature="",
    )
    return dataclasses.replace(unsigned, signature=signing.sign(unsigned.body(), key))


def _fields(body: Mapping[str, Any]) -> dict[str, Any]:
    return {name: body[name] for name in ("seq", "hash", "at", "public_key", "signature")}


def parse(text: str, *, trusted: Iterable[str]) -> Checkpoint:
    """Return the checkpoint a line holds; CheckpointError when it is malformed or its
    signature is not a trusted key's signature over exactly these fields."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise CheckpointError("it is not JSON") from exc
    if not isinstance(body, dict) or body.get("kind") != KIND or body.get("v") != VERSION:
        raise CheckpointError("it is not a WeldDesk audit checkpoint")
    seq, digest = body.get("seq"), body.get("hash")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise CheckpointError("its seq is not a number")
    if not isinstance(digest, str) or len(digest) != 64 or not isinstance(body.get("at"), str):
        raise CheckpointError("its hash or time is malformed")
    problem = signing.verify(body, trusted=trusted)
    if problem:
        raise CheckpointError(problem)
    # The line must be exactly what this version writes: no field rides along unchecked.
    checkpoint = Checkpoint(**_fields(body))
    if checkpoint.body() != body:
        raise CheckpointError("it carries fields this version does not know")
    return checkpoint


@dataclasses.dataclass
class Reading:
    """What a full read of the store found."""

    path: str
    checkpoints: list[Checkpoint]
    problems: list[str]


class FileStore:
    """An append-only JSON Lines file of checkpoints (one signed checkpoint per line)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def appending(self) -> Iterator[int]:
        """Open the file for appending (never for rewriting) and hold an exclusive lock on it,
        so two writers (beat and `manage.py audit_checkpoint`) take turns."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def append(fd: int, checkpoint: Checkpoint) -> None:
        """Append one line in one write and put it on disk before returning."""
        data = checkpoint.to_line().encode()
        if os.write(fd, data) != len(data):
            raise OSError("the audit checkpoint line was written only in part")
        os.fsync(fd)

    def lines(self) -> Iterator[tuple[int, str]]:
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    yield number, text

    def read(self, *, trusted: Iterable[str]) -> Reading:
        """Read every line; signatures are checked against the trusted keys."""
        trusted = set(trusted)
        if not self.path.exists():
            return Reading(str(self.path), [], [])
        found, problems = [], []
        try:
            for number, text in self.lines():
                try:
                    found.append(parse(text, trusted=trusted))
                except CheckpointError as exc:
                    problems.append(f"{self.path} line {number} is not a valid checkpoint: {exc}")
        except OSError as exc:
            problems.append(f"{self.path} cannot be read: {exc}")
        return Reading(str(self.path), found, problems)

    def last(self, *, trusted: Iterable[str]) -> Checkpoint | None:
        """Return the last valid checkpoint in the file (reading only its end when it can)."""
        trusted = set(trusted)
        if not self.path.exists():
            return None
        with open(self.path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace").splitlines()
        if size > _TAIL_BYTES:
            tail = tail[1:]  # the first line of the window may be cut
        for text in reversed(tail):
            with contextlib.suppress(CheckpointError):
                return parse(text, trusted=trusted)
        if size <= _TAIL_BYTES:
            return None
        found = self.read(trusted=trusted).checkpoints
        return found[-1] if found else None
