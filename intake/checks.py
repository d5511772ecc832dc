"""Checks of the ways in: inbound e-mail (`manage.py check --deploy`), and the WeChat and
WeCom callbacks' keys (`manage.py check`)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_mail_sender_authentication(app_configs=None, **kwargs) -> list[Warning]:
    """Mail comes in (the endpoint or a mailbox) but no mail server vouches for senders: a
    forged From address could then answer any customer's ticket (docs/email.md)."""
    try:
        mailboxes = json.loads(settings.MAIL_IMAP_MAILBOXES or "[]")
    except ValueError:
        mailboxes = []
    receiving = bool(settings.MAIL_INGEST_TOKEN) or bool(mailboxes)
    if receiving and not settings.MAIL_AUTHSERV_ID.strip():
        return [
            Warning(
                "Inbound e-mail is on but MAIL_AUTHSERV_ID is empty: the From address of a "
                "mail is believed, so a forged sender could add to a customer's ticket.",
                hint="Set MAIL_AUTHSERV_ID to the authserv-id your mail server writes in "
                "Authentication-Results (and strips from incoming mail).",
                id="welddesk.W012",
            )
        ]
    return []


@register(Tags.security)
def check_wechat_callbacks(app_configs=None, **kwargs) -> list:
    """A callback that is on must be able to check and read what the platform sends
    (docs/wechat.md): an EncodingAESKey of the spec's shape, the AppID or corp id it names.
    Warnings, not errors: the callback alone is out of order (it answers 503), and `migrate`
    or the rest of the desk must not stop for it."""
    from intake.wechat.crypto import aes_key

    found: list = []
    callbacks = (
        ("WECHAT", settings.WECHAT_TOKEN, settings.WECHAT_ENCODING_AES_KEY, "WECHAT_APP_ID"),
        ("WECOM", settings.WECOM_CALLBACK_TOKEN, settings.WECOM_ENCODING_AES_KEY, "WECOM_CORP_ID"),
    )
    for name, token, key, receiver in callbacks:
        if not token:
            continue
        if not getattr(settings, receiver):
            found.append(
                Warning(
                    f"The {name} callback is on but {receiver} is empty: it answers 503.",
                    hint=f"Set {receiver}, or empty the callback's token to turn it off.",
                    id="welddesk.W032",
                )
            )
        if key or name == "WECOM":
            try:
                aes_key(key)
            except ValueError:
                found.append(
                    Warning(
                        f"{name}_ENCODING_AES_KEY is not an EncodingAESKey (43 base64 "
                        "characters): the callback answers 503.",
                        hint="Copy the EncodingAESKey the platform generated.",
                        id="welddesk.W032",
                    )
                )
    return found


@register(Tags.security, deploy=True)
def check_wechat_plain_mode(app_configs=None, **kwargs) -> list[Warning]:
    """The official account's callback in plain mode: messages (and the desk's replies) cross
    the internet signed but readable by any proxy on the way (docs/wechat.md)."""
    if settings.WECHAT_TOKEN and not settings.WECHAT_ENCODING_AES_KEY:
        return [
            Warning(
                "The WeChat callback is in plain mode: messages are signed, not encrypted.",
                hint="Switch the official account to safe mode (安全模式) and set "
                "WECHAT_ENCODING_AES_KEY.",
                id="welddesk.W031",
            )
        ]
    return []
