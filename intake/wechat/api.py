"""The WeChat official account's and the WeCom application's callbacks (docs/wechat.md).

GET /api/v1/wechat/callback and GET /api/v1/wecom/callback: the platform's URL check when
the callback is configured. The official account signs `signature` over the token, timestamp
and nonce and expects its `echostr` back as it is; WeCom signs `msg_signature` over its
encrypted `echostr` and expects it decrypted.

POST to the same URLs: one message as XML. The official account in plain mode (no
WECHAT_ENCODING_AES_KEY) signs `signature`; in safe mode every message is encrypted and
signed by `msg_signature` (a plain one is refused). WeCom always encrypts. The body is read up
to MAX_BODY_BYTES (413 past it), parsed without DTDs or entities, checked (signature and
timestamp: 403; bytes that are no message: 400), filed once by its MsgId
(intake.wechat.services), and answered within the platform's 5 seconds: "success", or a
passive reply (the text XML the platform shows the sender; encrypted in safe mode and on
WeCom). A duplicate delivery answers "success" and stores nothing. A callback whose token is
empty is off (404); one set up with an unusable AppID, corp id or key answers 503.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request

from core import machine_auth
from core.errors import ApplicationError
from core.schema import Error
from intake.mail.api import read_limited
from intake.wechat import services
from intake.wechat.crypto import CryptoError, MessageCrypt, check_signature, check_timestamp
from intake.wechat.parse import XMLError, read_fields, write_fields

log = logging.getLogger(__name__)

# A message is a few kilobytes at most (a text is up to 2,048 bytes): anything much larger
# is not from the platform.
MAX_BODY_BYTES = 64 * 1024
ECHO_MAX = 128
CRYPTO_STATUS = {"bad_signature": 403, "stale": 403, "wrong_receiver": 403, "bad_message": 400}


class NotConfigured(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Config:
    token: str
    app_id: str
    crypt: MessageCrypt | None  # None: the official account's plain mode


def _refused(exc: CryptoError) -> JsonResponse:
    return machine_auth.error(exc.code, exc.message, CRYPTO_STATUS.get(exc.code, 400))


def _text(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/plain; charset=utf-8")


def _param(request: HttpRequest, name: str) -> str:
    return request.GET.get(name, "")


class _Callback(machine_auth.MachineWebhook):
    parser_classes: list = []  # the body is read raw: XML, never parsed as JSON
    platform = ""

    def config(self) -> Config:
        raise NotImplementedError

    def _configured(self) -> Config | JsonResponse:
        try:
            return self.config()
        except NotConfigured as exc:
            if exc.status == 503:
                log.error("%s callback misconfigured: %s", self.platform, exc.message)
            code = "not_configured" if exc.status == 404 else "misconfigured"
            return machine_auth.error(code, exc.message, exc.status)

    def _body(self, request: Request) -> bytes | JsonResponse:
        raw = read_limited(request._request, MAX_BODY_BYTES)
        if raw is None:
            return machine_auth.error("too_large", "The message is larger than the limit.", 413)
        return raw

    def _receive(self, request: Request, config: Config, fields: dict[str, str]) -> HttpResponse:
        """File the message and answer: "success", or the passive reply."""
        try:
            received = services.platform_message_receive(
                platform=self.platform, app_id=config.app_id, fields=fields
            )
        except ApplicationError as exc:
            return machine_auth.error(exc.code, str(exc.message), exc.status_code or 400)
        if not received.reply:
            return _text("success")
        now = str(int(time.time()))
        reply = write_fields(
            {
                "ToUserName": fields.get("FromUserName", ""),
                "FromUserName": fields.get("ToUserName", ""),
                "CreateTime": int(now),
                "MsgType": "text",
                "Content": received.reply,
            }
        )
        if config.crypt is not None:
            nonce = str(secrets.randbelow(10**10))
            reply = write_fields(config.crypt.seal(reply, timestamp=now, nonce=nonce))
        return HttpResponse(reply, content_type="application/xml; charset=utf-8")


_QUERY = [
    OpenApiParameter("timestamp", OpenApiTypes.STR, required=True),
    OpenApiParameter("nonce", OpenApiTypes.STR, required=True),
]
_ANSWERS = {
    (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description='"success"'),
    (200, "application/xml"): OpenApiResponse(OpenApiTypes.STR, description="A passive reply"),
    400: OpenApiResponse(Error, description="No message of the platform (XML, fields)"),
    403: OpenApiResponse(Error, description="Bad signature, or a timestamp out of the window"),
    404: OpenApiResponse(Error, description="The callback is not configured"),
    413: OpenApiResponse(Error, description="Larger than the limit"),
    503: OpenApiResponse(Error, description="Misconfigured, or the database is away"),
}
_ECHO = {
    (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The echo string"),
    400: _ANSWERS[400],
    403: _ANSWERS[403],
    404: _ANSWERS[404],
    503: _ANSWERS[503],
}


class WeChatCallback(_Callback):
    platform = "wechat"

    def config(self) -> Config:
        if not settings.WECHAT_TOKEN:
            raise NotConfigured(404, "The WeChat callback is off (WECHAT_TOKEN is empty).")
        if not settings.WECHAT_APP_ID:
            raise NotConfigured(503, "WECHAT_APP_ID is empty.")
        crypt = None
        if settings.WECHAT_ENCODING_AES_KEY:
            try:
                crypt = MessageCrypt(
                    settings.WECHAT_TOKEN,
                    settings.WECHAT_ENCODING_AES_KEY,
                    settings.WECHAT_APP_ID,
                )
            except ValueError:
                raise NotConfigured(503, "WECHAT_ENCODING_AES_KEY is no EncodingAESKey.") from None
        return Config(settings.WECHAT_TOKEN, settings.WECHAT_APP_ID, crypt)

    @extend_schema(
        summary="WeChat official account: the URL check",
        description="Signed by `signature` (token, timestamp, nonce); answers `echostr`.",
        auth=[],
        parameters=[
            OpenApiParameter("signature", OpenApiTypes.STR, required=True),
            *_QUERY,
            OpenApiParameter("echostr", OpenApiTypes.STR, required=True),
        ],
        responses=_ECHO,
    )
    def get(self, request: Request) -> HttpResponse:
        config = self._configured()
        if isinstance(config, JsonResponse):
            return config
        timestamp, echo = _param(request, "timestamp"), _param(request, "echostr")
        try:
            check_timestamp(timestamp)
            check_signature(
                config.token,
                _param(request, "signature"),
                timestamp=timestamp,
                nonce=_param(request, "nonce"),
            )
        except CryptoError as exc:
            return _refused(exc)
        if not echo or len(echo) > ECHO_MAX or not echo.isascii() or not echo.isalnum():
            return machine_auth.error("bad_echo", "The echo string is missing or not plain.", 400)
        return _text(echo)

    @extend_schema(
        summary="WeChat official account: a message",
        description=(
            "Plain mode: XML signed by `signature`. Safe mode (WECHAT_ENCODING_AES_KEY set): "
            "`encrypt_type=aes`, the XML's Encrypt signed by `msg_signature`. Answers "
            '"success" or a passive reply; see docs/wechat.md.'
        ),
        auth=[],
        parameters=[
            OpenApiParameter("signature", OpenApiTypes.STR, required=True),
            *_QUERY,
            OpenApiParameter("openid", OpenApiTypes.STR),
            OpenApiParameter("encrypt_type", OpenApiTypes.STR, enum=["aes", "raw"]),
            OpenApiParameter("msg_signature", OpenApiTypes.STR),
        ],
        request={"application/xml": OpenApiTypes.STR},
        responses=_ANSWERS,
    )
    def post(self, request: Request) -> HttpResponse:
        config = self._configured()
        if isinstance(config, JsonResponse):
            return config
        raw = self._body(request)
        if isinstance(raw, JsonResponse):
            return raw
        timestamp, nonce = _param(request, "timestamp"), _param(request, "nonce")
        try:
            check_timestamp(timestamp)
            if config.crypt is None:
                check_signature(
                    config.token, _param(request, "signature"), timestamp=timestamp, nonce=nonce
                )
                fields = read_fields(raw)
            else:
                if _param(request, "encrypt_type") != "aes":
                    return machine_auth.error(
                        "encryption_required", "This official account is in safe mode.", 403
                    )
                fields = read_fields(
                    config.crypt.open(
                        msg_signature=_param(request, "msg_signature"),
                        timestamp=timestamp,
                        nonce=nonce,
                        encrypted=read_fields(raw).get("Encrypt", ""),
                    )
                )
        except CryptoError as exc:
            return _refused(exc)
        except XMLError as exc:
            return machine_auth.error("bad_xml", str(exc), 400)
        return self._receive(request, config, fields)


class WeComCallback(_Callback):
    platform = "wecom"

    def config(self) -> Config:
        if not settings.WECOM_CALLBACK_TOKEN:
            raise NotConfigured(404, "The WeCom callback is off (WECOM_CALLBACK_TOKEN is empty).")
        if not settings.WECOM_CORP_ID:
            raise NotConfigured(503, "WECOM_CORP_ID is empty.")
        try:
            crypt = MessageCrypt(
                settings.WECOM_CALLBACK_TOKEN,
                settings.WECOM_ENCODING_AES_KEY,
                settings.WECOM_CORP_ID,
            )
        except ValueError:
            raise NotConfigured(503, "WECOM_ENCODING_AES_KEY is no EncodingAESKey.") from None
        return Config(settings.WECOM_CALLBACK_TOKEN, settings.WECOM_CORP_ID, crypt)

    @extend_schema(
        summary="WeCom application: the URL check",
        description="`msg_signature` over the encrypted `echostr`; answers it decrypted.",
        auth=[],
        parameters=[
            OpenApiParameter("msg_signature", OpenApiTypes.STR, required=True),
            *_QUERY,
            OpenApiParameter("echostr", OpenApiTypes.STR, required=True),
        ],
        responses=_ECHO,
    )
    def get(self, request: Request) -> HttpResponse:
        config = self._configured()
        if isinstance(config, JsonResponse):
            return config
        try:
            echo = config.crypt.verify_url(  # type: ignore[union-attr] - WeCom always encrypts
                msg_signature=_param(request, "msg_signature"),
                timestamp=_param(request, "timestamp"),
                nonce=_param(request, "nonce"),
                echostr=_param(request, "echostr"),
            )
        except CryptoError as exc:
            return _refused(exc)
        return _text(echo)

    @extend_schema(
        summary="WeCom application: a message",
        description=(
            'The XML\'s Encrypt, signed by `msg_signature`. Answers "success" or an '
            "encrypted passive reply; see docs/wechat.md."
        ),
        auth=[],
        parameters=[OpenApiParameter("msg_signature", OpenApiTypes.STR, required=True), *_QUERY],
        request={"application/xml": OpenApiTypes.STR},
        responses=_ANSWERS,
    )
    def post(self, request: Request) -> HttpResponse:
        config = self._configured()
        if isinstance(config, JsonResponse):
            return config
        raw = self._body(request)
        if isinstance(raw, JsonResponse):
            return raw
        try:
            fields = read_fields(
                config.crypt.open(  # type: ignore[union-attr] - WeCom always encrypts
                    msg_signature=_param(request, "msg_signature"),
                    timestamp=_param(request, "timestamp"),
                    nonce=_param(request, "nonce"),
                    encrypted=read_fields(raw).get("Encrypt", ""),
                )
            )
        except CryptoError as exc:
            return _refused(exc)
        except XMLError as exc:
            return machine_auth.error("bad_xml", str(exc), 400)
        return self._receive(request, config, fields)


wechat_callback = WeChatCallback.as_view()
wecom_callback = WeComCallback.as_view()
