"""Encryption of personal data at rest and keyed blind indexes for equality lookups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key.

    Raised instead of returning the ciphertext: a row read with the wrong key and saved again
    would otherwise be encrypted twice and its data lost.
    """


@cache
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    try:
        fernets = [Fernet(key.encode() if isinstance(key, str) else key) for key in keys]
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc
    if not fernets:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    return MultiFernet(fernets), fernets[0]


def _configured_keys() -> tuple[str, ...]:
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", None)
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set.")
    if isinstance(keys, str):
        keys = [k for k in keys.split(",") if k.strip()]
    return tuple(k.strip() for k in keys)


def crypter() -> MultiFernet:
    """Return the MultiFernet for the configured keys (the first one encrypts)."""
    return _fernets(_configured_keys())[0]


def primary() -> Fernet:
    """Return the Fernet of the first key, the one new values are encrypted with."""
    return _fernets(_configured_keys())[1]


def reset_on_setting_change(*, setting: str, **kwargs) -> None:
    if setting in {"FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"}:
        _fernets.cache_clear()


def encrypt(plaintext: str) -> str:
    """Return the ciphertext of a string, as text."""
    return crypter().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str | bytes, *, where: str = "a value") -> str:
    """Return the plaintext of a token, or raise DecryptionError naming where it came from."""
    token = ciphertext.encode("ascii") if isinstance(ciphertext, str) else ciphertext
    try:
        return crypter().decrypt(token).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError(
            f"Cannot decrypt {where}: no key in FIELD_ENCRYPTION_KEYS opens it. "
            "Check the key configuration; nothing was changed."
        ) from exc


def is_primary(ciphertext: str) -> bool:
    """Return True if the token was encrypted with the first (current) key."""
    try:
        primary().decrypt(ciphertext.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


def rotate(ciphertext: str, *, where: str = "a value") -> str:
    """Return the token re-encrypted with the first key."""
    try:
        return crypter().rotate(ciphertext.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError(f"Cannot re-encrypt {where}: no configured key opens it.") from exc


# Keys derived for one purpose ----------------------------------------------------------------

# What each derived key encrypts. Never the personal-data key: whatever one purpose lets
# people have encrypted (a search term anyone can have sealed) is no ciphertext under another
# key, and a token of one purpose opens under no other.
DERIVED_PURPOSES = {
    "sealed-search": "search terms carried in list URLs (core.sealed_search)",
    "oidc-session": "single sign-on tokens kept in a staff session (accounts.oidc)",
}


@cache
def _derived(purpose: str, secrets: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for secret in secrets:
        hkdf = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"welddesk:{purpose}".encode()
        )
        fernets.append(Fernet(base64.urlsafe_b64encode(hkdf.derive(secret.encode("utf-8")))))
    return MultiFernet(fernets)


def derived_crypter(purpose: str) -> MultiFernet:
    """Return the Fernet (AES + HMAC) of one purpose, its key derived from SECRET_KEY by
    HKDF-SHA256 with the purpose as label.

    Django's SECRET_KEY_FALLBACKS, when set, give the older keys that still open (they do not
    encrypt); otherwise a new SECRET_KEY ends every such token, as it ends every session.
    """
    if purpose not in DERIVED_PURPOSES:
        raise ValueError(f"Unknown key purpose {purpose!r}: add it to DERIVED_PURPOSES.")
    secrets = (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    if not all(secrets):
        raise ImproperlyConfigured("SECRET_KEY is not set.")
    return _derived(purpose, tuple(secrets))


# Blind indexes -------------------------------------------------------------------------------

_PHONE_JUNK = re.compile(r"[\s\-().]")


def normalise_email(value: str) -> str:
    """Return the lookup form of an email address: trimmed, NFKC, lower case."""
    return unicodedata.normalize("NFKC", value or "").strip().lower()


def normalise_phone(value: str) -> str:
    """Return the lookup form of a phone number (E.164-like; mainland mobiles get +86)."""
    raw = unicodedata.normalize("NFKC", value or "").strip()
    raw = _PHONE_JUNK.sub("", raw)
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    plus = raw.startswith("+")
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return ""
    if not plus and len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    return ("+" if plus else "") + digits


def normalise_platform_id(value: str) -> str:
    """Return the lookup form of a messaging platform's user id (a WeChat OpenID or UnionID,
    a WeCom user id): trimmed only, since the platforms' ids are case-sensitive."""
    return (value or "").strip()


NORMALISERS = {
    "email": normalise_email,
    "phone": normalise_phone,
    "platform-id": normalise_platform_id,
}


def blind_index(kind: str, value: str) -> str:
    """Return the HMAC-SHA256 of the normalised value under BLIND_INDEX_KEY, or '' if empty."""
    normalised = NORMALISERS[kind](value)
    if not normalised:
        return ""
    return keyed_hash(kind, normalised)


# Keyed hashes --------------------------------------------------------------------------------

# Every HMAC under BLIND_INDEX_KEY is made here, each for one of these purposes. The purpose
# opens the message, so the same words hashed for two purposes give unrelated values: a
# sign-in counter's key can never stand for a blind index, or the other way round.
KEYED_HASH_PURPOSES = {
    "email": "blind index of e-mail addresses (stored in the database)",
    "phone": "blind index of phone numbers (stored in the database)",
    "platform-id": "blind index of WeChat OpenIDs/UnionIDs and WeCom user ids (in the database)",
    "login": "sign-in throttle counters and known networks (accounts.lockout)",
    "bind-code": "one-time codes linking a WeChat/WeCom account to a portal account (stored)",
    "search-term": "search index of ticket text, names and e-mails (core.search_terms)",
}


def keyed_hash(purpose: str, *parts: str) -> str:
    """Return the HMAC-SHA256 (hex) under BLIND_INDEX_KEY of `parts`, for one purpose.

    The message is `<purpose>:<part>` with several parts joined by NUL; a purpose holds no
    colon and a part no NUL, so two different (purpose, parts) never share a message. The
    blind indexes have had exactly this form (`email:<address>`) from the start: the values
    stored in the database stay what they were.
    """
    if purpose not in KEYED_HASH_PURPOSES:
        raise ValueError(f"Unknown keyed-hash purpose {purpose!r}: add it to the registry.")
    if any("\x00" in part for part in parts):
        raise ValueError("A keyed-hash part must not hold a NUL character.")
    key = settings.BLIND_INDEX_KEY
    if not key:
        raise ImproperlyConfigured("BLIND_INDEX_KEY is not set.")
    message = f"{purpose}:" + "\x00".join(parts)
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
