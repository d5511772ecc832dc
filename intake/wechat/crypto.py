"""The WeChat / WeCom message-encryption spec ("WXBizMsgCrypt"), from its published text.

Both platforms sign and encrypt their callbacks the same way; only the receiver id differs
(the official account's AppID, the WeCom corp id):

- signature: SHA-1 (hex) of the sorted concatenation of the token, the timestamp, the nonce
  and, for `msg_signature`, the encrypted message. The official account's plain `signature`
  is the same over the first three only.
- encryption: AES-256-CBC, key = base64decode(EncodingAESKey + "="), IV = the key's first 16
  bytes. The plaintext is 16 random bytes, the message's length (4 bytes, network order),
  the message and the receiver id, padded PKCS#7-style to a multiple of 32 bytes (the spec's
  block, not AES's 16: a pad byte may be 1 to 32). The result travels as base64.

What is refused here, each a `CryptoError` with a code: a signature that does not match
(compared in constant time), a timestamp outside the replay window, bytes that are no
ciphertext of this key (bad base64, a length no block multiple, a bad pad, a length field past
the end) and a message for another receiver id. The signature is always checked before
anything is decrypted: CBC has no integrity of its own, so a padding oracle is never offered
to a caller without the token.

Replay window: `REPLAY_WINDOW_SECONDS` (5 minutes) either side of the desk's clock. The
platforms retry a callback three times within about 15 seconds and stamp each request when
it is sent, so 5 minutes covers their retries and a clock a little off; a request captured and
replayed later is refused, and one replayed within the window is a duplicate the message id
already stops (docs/wechat.md).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

REPLAY_WINDOW_SECONDS = 300
BLOCK = 32  # the spec's padding block (a multiple of AES's 16)
RANDOM_BYTES = 16


class CryptoError(Exception):
    """A callback that fails the spec's checks; `code` says which check."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def signature(token: str, timestamp: str, nonce: str, encrypted: str = "") -> str:
    """The spec's signature: SHA-1 hex of the sorted parts joined (the encrypted message
    only for `msg_signature`)."""
    parts = [token, timestamp, nonce] + ([encrypted] if encrypted else [])
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - the spec's


def _same(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.lower().encode(), expected.encode())


def check_signature(
    token: str, given: object, *, timestamp: str, nonce: str, encrypted: str = ""
) -> None:
    """Raise CryptoError("bad_signature") unless `given` is the signature of the parts."""
    if not token or not _same(given, signature(token, timestamp, nonce, encrypted)):
        raise CryptoError("bad_signature", "The signature does not match.")


def check_timestamp(timestamp: object, *, now: dt.datetime | None = None) -> None:
    """Raise CryptoError("stale") unless the timestamp (Unix seconds, as the platform sends
    it) is within REPLAY_WINDOW_SECONDS of now."""
    if not isinstance(timestamp, str) or not timestamp.isascii() or not timestamp.isdigit():
        raise CryptoError("stale", "The timestamp is missing or not a number.")
    if len(timestamp) > 12:
        raise CryptoError("stale", "The timestamp is out of range.")
    current = now.timestamp() if now is not None else time.time()
    if abs(current - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        raise CryptoError("stale", "The timestamp is outside the replay window.")


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey; ValueError for another value."""
    if not isinstance(encoding_aes_key, str) or len(encoding_aes_key) != 43:
        raise ValueError("An EncodingAESKey has 43 characters.")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("An EncodingAESKey is base64 (letters, digits, + and /).") from None
    if len(key) != 32:  # pragma: no cover - 43 base64 characters are always 32 bytes
        raise ValueError("An EncodingAESKey decodes to 32 bytes.")
    return key


@dataclass(frozen=True)
class MessageCrypt:
    """One callback configuration: the token, the EncodingAESKey and the receiver id (the
    official account's AppID or the WeCom corp id)."""

    token: str
    encoding_aes_key: str
    receive_id: str
    _key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", aes_key(self.encoding_aes_key))

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, message: bytes, *, random_prefix: bytes | None = None) -> str:
        """The base64 ciphertext of a message (`random_prefix`: the 16 random bytes, fixed
        only by the tests that compare with a published vector)."""
        prefix = os.urandom(RANDOM_BYTES) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_BYTES:
            raise ValueError("The random prefix has 16 bytes.")
        body = prefix + struct.pack(">I", len(message)) + message + self.receive_id.encode()
        pad = BLOCK - len(body) % BLOCK  # 1 to 32: a full block when already aligned
        body += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: object) -> bytes:
        """The message inside a base64 ciphertext; CryptoError for anything else, or for a
        message addressed to another receiver id. Check the signature first (`open`)."""
        if not isinstance(encrypted, str) or not encrypted:
            raise CryptoError("bad_message", "The encrypted message is missing.")
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("bad_message", "The encrypted message is not base64.") from None
        if not raw or len(raw) % 16:
            raise CryptoError("bad_message", "The encrypted message is not whole AES blocks.")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad_message", "The encrypted message has a bad padding.")
        body = plain[:-pad]
        if len(body) < RANDOM_BYTES + 4:
            raise CryptoError("bad_message", "The encrypted message is too short.")
        (length,) = struct.unpack(">I", body[RANDOM_BYTES : RANDOM_BYTES + 4])
        start = RANDOM_BYTES + 4
        if length > len(body) - start:
            raise CryptoError("bad_message", "The encrypted message's length is wrong.")
        message, receiver = body[start : start + length], body[start + length :]
        if not hmac.compare_digest(receiver, self.receive_id.encode()):
            raise CryptoError("wrong_receiver", "The message is for another app or corp id.")
        return message

    def open(
        self,
        *,
        msg_signature: object,
        timestamp: object,
        nonce: object,
        encrypted: object,
        now: dt.datetime | None = None,
    ) -> bytes:
        """Check a callback's signature and timestamp, then decrypt it: the message."""
        if not isinstance(nonce, str) or not isinstance(encrypted, str) or not encrypted:
            raise CryptoError("bad_message", "The nonce or the encrypted message is missing.")
        check_timestamp(timestamp, now=now)
        check_signature(
            self.token,
            msg_signature,
            timestamp=str(timestamp),
            nonce=nonce,
            encrypted=encrypted,
        )
        return self.decrypt(encrypted)

    def verify_url(
        self,
        *,
        msg_signature: object,
        timestamp: object,
        nonce: object,
        echostr: object,
        now: dt.datetime | None = None,
    ) -> str:
        """WeCom's URL check: the decrypted echostr, which the answer must hold as is."""
        message = self.open(
            msg_signature=msg_signature,
            timestamp=timestamp,
            nonce=nonce,
            encrypted=echostr,
            now=now,
        )
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise CryptoError("bad_message", "The echo string is not text.") from None

    def seal(
        self, message: bytes, *, timestamp: str, nonce: str, random_prefix: bytes | None = None
    ) -> dict[str, str]:
        """An encrypted passive reply's fields: Encrypt, MsgSignature, TimeStamp, Nonce."""
        encrypted = self.encrypt(message, random_prefix=random_prefix)
        return {
            "Encrypt": encrypted,
            "MsgSignature": signature(self.token, timestamp, nonce, encrypted),
            "TimeStamp": timestamp,
            "Nonce": nonce,
        }
