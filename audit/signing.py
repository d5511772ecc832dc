"""The audit signing key (Ed25519): it signs compliance exports and the chain's checkpoints.

One key, one loader: AUDIT_SIGNING_KEY (PEM, or base64 of the 32-byte seed; the old name
AUDIT_EXPORT_SIGNING_KEY is still read). Unset, the key is derived from SECRET_KEY, which is
fine for development only: whoever holds SECRET_KEY could then sign checkpoints too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from core.errors import ApplicationError

ALGORITHM = "Ed25519"


def signing_key() -> Ed25519PrivateKey:
    """Return the audit signing key from the settings (derived from SECRET_KEY when unset)."""
    configured = settings.AUDIT_SIGNING_KEY.strip()
    if configured.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(configured.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ApplicationError("AUDIT_SIGNING_KEY is not an Ed25519 key.")
        return key
    if configured:
        try:
            seed = base64.b64decode(configured + "=" * (-len(configured) % 4))
        except binascii.Error as exc:
            raise ApplicationError("AUDIT_SIGNING_KEY is neither PEM nor base64.") from exc
    else:
        # The derivation keeps its historical label: exports signed before the rename verify.
        seed = hashlib.sha256(b"welddesk-audit-export:" + settings.SECRET_KEY.encode()).digest()
    if len(seed) != 32:
        raise ApplicationError("AUDIT_SIGNING_KEY must be 32 bytes (base64) or PEM.")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_b64(key: Ed25519PrivateKey | None = None) -> str:
    """Return the raw public key in base64 (what verifiers are given)."""
    raw = (
        (key or signing_key())
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def public_key_pem(key: Ed25519PrivateKey | None = None) -> str:
    """Return the public key as a PEM file (SubjectPublicKeyInfo), for verifiers whose tools
    read PEM (the desk's verifier, `openssl pkey -pubin`)."""
    return (
        (key or signing_key())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def fingerprint(public_key: str) -> str:
    """Return the SHA-256 of the raw public key in hex, in groups of four, so an officer can
    read it aloud to an auditor who compares it with the key they were given another way."""
    digest = hashlib.sha256(base64.b64decode(public_key, validate=True)).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def key_id(public_key: str) -> str:
    """Return a short fingerprint of a base64 public key (16 hex digits of its SHA-256)."""
    try:
        raw = base64.b64decode(public_key, validate=True)
    except (binascii.Error, ValueError):
        raw = public_key.encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def canonical(body: Mapping[str, Any]) -> bytes:
    """Return the bytes that are signed: canonical JSON of the body without its signature."""
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: Mapping[str, Any], key: Ed25519PrivateKey | None = None) -> str:
    """Return the base64 Ed25519 signature of the body's canonical JSON."""
    return base64.b64encode((key or signing_key()).sign(canonical(body))).decode()


def trusted_public_keys() -> set[str]:
    """The keys whose signatures are believed: the current one and AUDIT_TRUSTED_PUBLIC_KEYS
    (the public halves of earlier keys, so checkpoints signed before a rotation still count)."""
    return {public_key_b64(), *settings.AUDIT_TRUSTED_PUBLIC_KEYS}


def verify(body: Mapping[str, Any], *, trusted: Iterable[str]) -> str:
    """Return "" when the body's signature is valid and made by a trusted key, else why not."""
    public_key = body.get("public_key")
    signature = body.get("signature")
    if not isinstance(public_key, str) or not isinstance(signature, str):
        return "it carries no public key or no signature"
    if public_key not in set(trusted):
        return (
            f"it is signed by key {key_id(public_key)}, which is neither the audit signing key "
            "nor one of AUDIT_TRUSTED_PUBLIC_KEYS"
        )
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True)).verify(
            base64.b64decode(signature, validate=True), canonical(body)
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return "its signature does not verify (the line was altered or forged)"
    return ""
