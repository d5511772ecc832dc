#!/usr/bin/env python3
"""Verify a WeldDesk audit export without Django: the file, the signed manifest, the chain.

    python tools/verify_audit_export.py export.zip --public-key BASE64
    python tools/verify_audit_export.py export.zip --public-key audit-public-key.pem

Checks, in order:
1. the manifest's Ed25519 signature, against the public key you give (the one in the
   manifest is only compared with it: trust the key you got from the desk's operators);
2. the SHA-256 of the events file against the manifest;
3. every event: its hash is sha256(prev_hash + canonical JSON of its fields);
4. when the manifest says the events are contiguous, that each event's prev_hash is the
   previous event's hash, the sequence has no gap, and the first prev_hash, the last hash and
   the count match the manifest.

Exit status 0 when everything holds, 1 with the first failure otherwise. Needs Python 3.10+
and the `cryptography` package; reads the events as a stream (flat memory).
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


class Failed(Exception):
    pass


def canonical(row: dict[str, Any]) -> str:
    body = {name: row[name] for name in HASHED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256((row["prev_hash"] + canonical(row)).encode("utf-8")).hexdigest()


def _uncell(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def csv_rows(stream: io.TextIOBase) -> Iterator[dict[str, Any]]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None or tuple(header) != (*HASHED_FIELDS, "hash"):
        raise Failed("the CSV header is not the audit export's")
    for cells in reader:
        row = dict(zip(header, (_uncell(c) for c in cells), strict=True))
        row["seq"] = int(row["seq"])
        row["changed_fields"] = json.loads(row["changed_fields"])
        row["data"] = json.loads(row["data"])
        row["ip"] = row["ip"] or None
        yield row


def jsonl_rows(stream: io.TextIOBase) -> Iterator[dict[str, Any]]:
    for line in stream:
        if line.strip():
            yield json.loads(line)


def verify(path: str, public_key: str) -> str:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        signature = base64.b64decode(manifest.get("signature", ""))
        body = {k: v for k, v in manifest.items() if k != "signature"}
        signed = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if manifest.get("public_key") != public_key:
            raise Failed("the manifest names another public key than the one given")
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
            key.verify(signature, signed.encode())
        except (InvalidSignature, ValueError) as exc:
            raise Failed("the manifest's signature is not valid") from exc

        digest = hashlib.sha256()
        with archive.open(manifest["file"]) as raw:
            for block in iter(lambda: raw.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != manifest["sha256"]:
            raise Failed("the events file does not match the manifest's SHA-256")

        count = 0
        first_prev = previous_hash = None
        previous_seq = None
        with archive.open(manifest["file"]) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            rows = csv_rows(text) if manifest["format"] == "csv" else jsonl_rows(text)
            for row in rows:
                count += 1
                if row_hash(row) != row["hash"]:
                    raise Failed(f"event {row['seq']}: its content does not match its hash")
                if first_prev is None:
                    first_prev = row["prev_hash"]
                if manifest["contiguous"] and previous_hash is not None:
                    if row["seq"] != previous_seq + 1:
                        raise Failed(f"event {previous_seq + 1} is missing")
                    if row["prev_hash"] != previous_hash:
                        raise Failed(f"event {row['seq']}: the chain is broken before it")
                previous_hash, previous_seq = row["hash"], row["seq"]
    if count != manifest["count"]:
        raise Failed(f"{count} events, the manifest says {manifest['count']}")
    if count and (
        first_prev != manifest["first_prev_hash"] or previous_hash != manifest["last_hash"]
    ):
        raise Failed("the first prev_hash or the last hash differ from the manifest")
    chain = "chain linked" if manifest["contiguous"] else "each event's hash (not contiguous)"
    return (
        f"OK: {count} events, seq {manifest['first_seq']}..{manifest['last_seq']}, "
        f"signature, file SHA-256 and {chain} verified; exported by {manifest['exporter']} "
        f"at {manifest['exported_at']}"
    )


def key_from(value: str) -> str:
    """Return the base64 raw key given either as base64 or as the path of a PEM file (the one
    the desk's audit screen offers for download)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(value)
    if not value.startswith("-----BEGIN") and path.is_file():
        value = path.read_text(encoding="ascii")
    if value.lstrip().startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(value.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise Failed("the PEM file holds no Ed25519 public key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()
    return value.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", help="the ZIP the desk produced")
    parser.add_argument(
        "--public-key", required=True, help="the desk's Ed25519 key: base64, or a PEM file's path"
    )
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(verify(args.export, key_from(args.public_key)) + "\n")
    except (Failed, KeyError, ValueError, zipfile.BadZipFile) as exc:
        sys.stderr.write(f"FAILED: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
