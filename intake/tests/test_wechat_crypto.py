"""The message-encryption spec against the published vectors, round trips and tampering.

Vectors (values only; the code under test is ours):

- OFFICIAL ACCOUNT: Tencent's WXBizMsgCrypt Python demo for the official-account platform
  (Sample.py, jonyqin, 2014), as published e.g. in
  github.com/charlesXu86/Chatbot_CN/Chatbot_Web/impl/weixin/Sample.py: token "spamtest",
  AppID wx2c2769f8efd9abc2, a text message "abcdteT" from oyORnuP8q7ou2gfYjqLzSIWZf0rs.
- WECOM: Tencent's WeCom callback demo (callback/Sample.py of
  github.com/sbzhu/weworkapi_python, Tencent's published SDK sample): corp id
  ww1436e0e65a779aee, the URL check's echostr and a text message "你好" from ChenJiaShun.
- WECHATPY: tests/test_crypto.py of github.com/wechatpy/wechatpy (the WeCom crypto tests):
  an encrypted reply with the random prefix fixed to "1234567890123456", so the ciphertext
  and its msg_signature are known byte for byte.
"""

from __future__ import annotations

import base64
import datetime as dt
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from intake.wechat.crypto import (
    REPLAY_WINDOW_SECONDS,
    CryptoError,
    MessageCrypt,
    check_signature,
    check_timestamp,
    signature,
)


def at(timestamp: str, seconds: int = 0) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(timestamp) + seconds, tz=dt.UTC)


# ------------------------------------------------------------------ official account vector

OA = MessageCrypt("spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2")
OA_TIMESTAMP, OA_NONCE = "1409735669", "1320562132"
OA_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
OA_ENCRYPTED = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8P"
    "GHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h"
    "6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCO"
    "p3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnh"
    "vQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
OA_PLAINTEXT = (
    b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    b"<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    b"<CreateTime>1409735668</CreateTime>\n"
    b"<MsgType><![CDATA[text]]></MsgType>\n"
    b"<Content><![CDATA[abcdteT]]></Content>\n"
    b"<MsgId>6054768590064713728</MsgId>\n"
    b"</xml>"
)


def test_the_official_account_vector_opens_to_its_message():
    message = OA.open(
        msg_signature=OA_SIGNATURE,
        timestamp=OA_TIMESTAMP,
        nonce=OA_NONCE,
        encrypted=OA_ENCRYPTED,
        now=at(OA_TIMESTAMP, 2),
    )
    assert message == OA_PLAINTEXT


def test_the_official_account_vector_is_padded_to_the_spec_block_of_32():
    """The spec pads to 32 bytes, not AES's 16: this vector's pad is 2 and the ciphertext a
    multiple of 32 (and a pad above 16 is accepted, as the WeCom vector shows)."""
    raw = base64.b64decode(OA_ENCRYPTED)
    assert len(raw) % 32 == 0
    key = base64.b64decode(OA.encoding_aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    (length,) = struct.unpack(">I", plain[16:20])
    assert (length, plain[-1]) == (len(OA_PLAINTEXT), 2)


# ------------------------------------------------------------------------ WeCom vectors

WECOM = MessageCrypt(
    "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "ww1436e0e65a779aee",
)
WECOM_ECHO = (
    "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
)
WECOM_MESSAGE = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgG"
    "zBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3"
    "JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQ"
    "HE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOY"
    "uPDGOCI8jmnKiypE+"
)


def test_the_wecom_url_check_vector_answers_the_decrypted_echo():
    echo = WECOM.verify_url(
        msg_signature="012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
        timestamp="1476416373",
        nonce="47744683",
        echostr=WECOM_ECHO,
        now=at("1476416373"),
    )
    assert echo == "1288432023552776189"


def test_the_wecom_message_vector_opens_to_its_message():
    message = WECOM.open(
        msg_signature="0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
        timestamp="1476422779",
        nonce="1597212914",
        encrypted=WECOM_MESSAGE,
        now=at("1476422779", -30),
    )
    assert (
        message
        == (
            "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun"
            "</FromUserName><CreateTime>1476422779</CreateTime><MsgType>text</MsgType>"
            "<Content>你好</Content><MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
        ).encode()
    )


def test_the_wechatpy_vector_encrypts_byte_for_byte():
    crypt = MessageCrypt(
        "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
    )
    reply = (
        "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
        "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
        "<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
        "<CreateTime>1411525903</CreateTime>\n</xml>"
    )
    sealed = crypt.seal(
        reply.encode(), timestamp="1411525903", nonce="461056294", random_prefix=b"1234567890123456"
    )
    assert sealed["Encrypt"] == (
        "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNc"
        "BqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY"
        "0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsV"
        "bwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAG"
        "VRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
    )
    assert sealed["MsgSignature"] == "407518b7649e86ef23978113f92d27afa9296533"
    assert (sealed["TimeStamp"], sealed["Nonce"]) == ("1411525903", "461056294")


def test_the_plain_signature_is_over_token_timestamp_and_nonce():
    """The official account's URL check (and plain mode): `signature` without a message; the
    wechatpy vector's URL check signs its echostr with msg_signature instead."""
    assert signature("spamtest", "1409735669", "1320562132") == signature(
        "spamtest", "1320562132", "1409735669"
    )
    check_signature(
        "123456",
        "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
        timestamp="1411443780",
        nonce="437374425",
        encrypted="4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOch"
        "LF6p+Q==",
    )


# ------------------------------------------------------------------------ round trips

CRYPT = MessageCrypt("tok3n", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", "wxdesk0000000001")


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 31, 32, 33, 100, 4000])
def test_every_length_round_trips_padded_to_32(size):
    message = ("焊" * size).encode()[:size]
    encrypted = CRYPT.encrypt(message)
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert CRYPT.decrypt(encrypted) == message


def test_a_sealed_reply_opens_and_the_random_prefix_changes_every_time():
    now = dt.datetime.now(dt.UTC)
    timestamp = str(int(now.timestamp()))
    sealed = CRYPT.seal("您好".encode(), timestamp=timestamp, nonce="42")
    assert CRYPT.seal("您好".encode(), timestamp=timestamp, nonce="42") != sealed
    opened = CRYPT.open(
        msg_signature=sealed["MsgSignature"],
        timestamp=timestamp,
        nonce="42",
        encrypted=sealed["Encrypt"],
        now=now,
    )
    assert opened == "您好".encode()


# ------------------------------------------------------------------------ tampering


def _open(**changes):
    fields = {
        "msg_signature": OA_SIGNATURE,
        "timestamp": OA_TIMESTAMP,
        "nonce": OA_NONCE,
        "encrypted": OA_ENCRYPTED,
        "now": at(OA_TIMESTAMP),
    }
    return OA.open(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        {"msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fb"},
        {"msg_signature": ""},
        {"msg_signature": None},
        {"nonce": "1320562133"},
        {"timestamp": "1409735670", "now": at("1409735670")},
        {"encrypted": OA_ENCRYPTED[:-8] + "AAAAAAA="},
    ],
)
def test_a_changed_signature_nonce_timestamp_or_ciphertext_is_refused(changes):
    with pytest.raises(CryptoError) as refused:
        _open(**changes)
    assert refused.value.code == "bad_signature"


def test_the_token_signs_too():
    other = MessageCrypt("not-spamtest", OA.encoding_aes_key, OA.receive_id)
    with pytest.raises(CryptoError, match="signature"):
        other.open(
            msg_signature=OA_SIGNATURE,
            timestamp=OA_TIMESTAMP,
            nonce=OA_NONCE,
            encrypted=OA_ENCRYPTED,
            now=at(OA_TIMESTAMP),
        )


def test_a_message_for_another_app_id_is_refused():
    other = MessageCrypt(OA.token, OA.encoding_aes_key, "wx0000000000000000")
    with pytest.raises(CryptoError) as refused:
        other.decrypt(OA_ENCRYPTED)
    assert refused.value.code == "wrong_receiver"


def test_another_key_gives_a_bad_padding_or_a_wrong_receiver_never_a_message():
    other = MessageCrypt(OA.token, "A" * 43, OA.receive_id)
    with pytest.raises(CryptoError) as refused:
        other.decrypt(OA_ENCRYPTED)
    assert refused.value.code in ("bad_message", "wrong_receiver")


def _raw_encrypt(body: bytes) -> str:
    key = base64.b64decode(CRYPT.encoding_aes_key + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()


HEAD = b"r" * 16 + struct.pack(">I", 2) + b"hi" + b"wxdesk0000000001"  # 38 bytes


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (HEAD + b"\x00" * 10, "a pad byte of 0"),
        (HEAD + b"!" * 42, "a pad byte of 33, above the spec's block"),
        (HEAD + b"\x01" * 9 + b"\x0a", "pad bytes that disagree"),
        (HEAD[:16] + struct.pack(">I", 9999) + HEAD[20:] + b"\x0a" * 10, "a length past the end"),
        (b"r" * 12 + b"\x04" * 4, "too short for the prefix and the length"),
    ],
)
def test_bad_padding_and_bad_lengths_are_refused(body, why):
    assert len(body) % 16 == 0, why
    with pytest.raises(CryptoError) as refused:
        CRYPT.decrypt(_raw_encrypt(body))
    assert refused.value.code == "bad_message"


@pytest.mark.parametrize("encrypted", ["", "not base64!", "QUJD", "A" * 22 + "==", None, 42])
def test_what_is_no_ciphertext_is_refused(encrypted):
    with pytest.raises(CryptoError) as refused:
        CRYPT.decrypt(encrypted)
    assert refused.value.code == "bad_message"


def test_a_timestamp_outside_the_replay_window_is_refused_either_side():
    now = at(OA_TIMESTAMP)
    check_timestamp(OA_TIMESTAMP, now=at(OA_TIMESTAMP, REPLAY_WINDOW_SECONDS))
    check_timestamp(OA_TIMESTAMP, now=at(OA_TIMESTAMP, -REPLAY_WINDOW_SECONDS))
    for late in (REPLAY_WINDOW_SECONDS + 1, -REPLAY_WINDOW_SECONDS - 1):
        with pytest.raises(CryptoError) as refused:
            check_timestamp(OA_TIMESTAMP, now=at(OA_TIMESTAMP, late))
        assert refused.value.code == "stale"
    for bad in ("", "12a", "-5", "１２３", "9" * 40, None):
        with pytest.raises(CryptoError):
            check_timestamp(bad, now=now)
    with pytest.raises(CryptoError, match="replay window"):
        _open(now=at(OA_TIMESTAMP, 3600))  # the published vector, an hour later


@pytest.mark.parametrize("key", ["", "short", "A" * 44, "!" * 43, "A" * 42 + "é"])
def test_an_encoding_aes_key_of_another_shape_is_refused_at_once(key):
    with pytest.raises(ValueError):
        MessageCrypt("t", key, "wx")
