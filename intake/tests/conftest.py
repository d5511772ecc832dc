import pytest

from status.tests.conftest import components, sev  # noqa: F401 (the status fixtures)
from tickets.tests.conftest import (  # noqa: F401 (the ticket fixtures mail lands in)
    machine,
    make_unit,
    open_ticket,
    queue_setup,
    sla_setup,
)


@pytest.fixture
def make_calls(db):
    """Calls written straight to the table (bulk), for the reports: (line, started, seconds
    to answer or None, how it ended: "answered", "abandoned", "unanswered" or "ringing")."""
    import datetime as dt

    from intake.models import Call

    counter = {"n": 0}

    def make(rows: list[tuple]) -> list[Call]:
        calls = []
        for line, started, to_answer, outcome in rows:
            counter["n"] += 1
            answered = started + dt.timedelta(seconds=to_answer) if to_answer is not None else None
            calls.append(
                Call(
                    call_id=f"report-{counter['n']}",
                    line=line,
                    started_at=started,
                    answered_at=answered,
                    abandoned=outcome == "abandoned",
                    ended_at=None if outcome == "ringing" else started + dt.timedelta(minutes=5),
                )
            )
        return Call.objects.bulk_create(calls)

    return make


@pytest.fixture
def alarm_world(sla_setup, queue_setup, make_org, make_unit):  # noqa: F811
    """An organisation with two machines, an alarms key (its token) and a rule that opens a
    P2 ticket for any major or critical alarm, merging repeats within an hour."""
    import types

    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create
    from intake.models import AlarmRule

    org = make_org()
    units = [make_unit(org), make_unit(org)]
    _key, token = api_key_create(
        actor=None, organisation=org, name="Gateway", scope=ApiScope.ALARMS
    )
    rule = AlarmRule.objects.create(code="", min_severity="major", priority=2, merge_minutes=60)
    return types.SimpleNamespace(org=org, units=units, token=token, rule=rule)


@pytest.fixture
def post_alarms(client):
    """POST a batch to /api/v1/units/<serial>/alarms with a key; returns the response."""
    import json

    def post(serial, batch, token, *, slash=False):
        return client.post(
            f"/api/v1/units/{serial}/alarms" + ("/" if slash else ""),
            data=json.dumps(batch),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {token}",
        )

    return post


# ------------------------------------------------------------------------ WeChat / WeCom

from notifications.tests.conftest import (  # noqa: E402, F401 (the fake platform API)
    WECHAT_APP_ID,
    WECOM_AGENT_ID,
    WECOM_CORP_ID,
    platform_api,
)

WECHAT_TOKEN, WECHAT_KEY = "desk-wechat-token", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
WECOM_TOKEN, WECOM_KEY = "desk-wecom-token", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
ACCOUNT = "gh_7f083739789a"  # the official account's own id, as the platform names it


class FakePlatform:
    """The platform's side of a callback: it builds a message, encrypts and signs it as the
    spec says, posts it to the desk's endpoint, and opens the passive reply it gets back."""

    def __init__(self, platform: str, client) -> None:
        from django.conf import settings

        from intake.wechat.crypto import MessageCrypt

        self.platform, self.client = platform, client
        self.count = 6054768590064713728
        if platform == "wechat":
            self.path = "/api/v1/wechat/callback"
            self.token, self.receive_id = settings.WECHAT_TOKEN, settings.WECHAT_APP_ID
            key = settings.WECHAT_ENCODING_AES_KEY
        else:
            self.path = "/api/v1/wecom/callback"
            self.token, self.receive_id = settings.WECOM_CALLBACK_TOKEN, settings.WECOM_CORP_ID
            key = settings.WECOM_ENCODING_AES_KEY
        self.crypt = MessageCrypt(self.token, key, self.receive_id) if key else None

    def message(self, sender: str, msg_type: str = "text", *, msg_id=None, **fields) -> bytes:
        """The plain XML of one message (Content= for a text), with a new MsgId unless given."""
        import time

        from intake.wechat.parse import write_fields

        if msg_id is None:
            self.count += 1
            msg_id = self.count
        own = ACCOUNT if self.platform == "wechat" else self.receive_id
        head = {"ToUserName": own, "FromUserName": sender, "CreateTime": int(time.time())}
        extra = {"AgentID": int(WECOM_AGENT_ID)} if self.platform == "wecom" else {}
        return write_fields({**head, "MsgType": msg_type, **fields, "MsgId": int(msg_id), **extra})

    def post(self, plain: bytes, *, timestamp=None, nonce="1320562132", query=None, body=None):
        """POST the message as the platform would: encrypted and signed when a key is set."""
        import time
        import urllib.parse

        from intake.wechat.crypto import signature
        from intake.wechat.parse import write_fields

        timestamp = str(int(time.time())) if timestamp is None else timestamp
        params = {"timestamp": timestamp, "nonce": nonce}
        if self.crypt is None:
            params["signature"] = signature(self.token, timestamp, nonce)
            data = plain
        else:
            encrypted = self.crypt.encrypt(plain)
            params["msg_signature"] = signature(self.token, timestamp, nonce, encrypted)
            outer = {"ToUserName": self.receive_id, "Encrypt": encrypted}
            if self.platform == "wechat":
                params["signature"] = signature(self.token, timestamp, nonce)
                params["encrypt_type"] = "aes"
                params["openid"] = "ignored-by-the-desk"
            else:
                outer["AgentID"] = WECOM_AGENT_ID
            data = write_fields(outer)
        params.update(query or {})
        url = f"{self.path}?{urllib.parse.urlencode(params)}"
        return self.client.generic(
            "POST", url, data if body is None else body, content_type="text/xml"
        )

    def reply(self, response) -> dict[str, str]:
        """The passive reply's fields, decrypted and its signature checked (as the platform
        does); {} for "success"."""
        from intake.wechat.crypto import check_signature
        from intake.wechat.parse import read_fields

        assert response.status_code == 200, response.content
        if response.content == b"success":
            return {}
        assert response["Content-Type"].startswith("application/xml")
        fields = read_fields(response.content)
        if self.crypt is None:
            return fields
        check_signature(
            self.token,
            fields["MsgSignature"],
            timestamp=fields["TimeStamp"],
            nonce=fields["Nonce"],
            encrypted=fields["Encrypt"],
        )
        return read_fields(self.crypt.decrypt(fields["Encrypt"]))


@pytest.fixture
def callbacks(settings, platform_api):  # noqa: F811 (the fixture imported above)
    """Both callbacks on: the official account in safe mode, WeCom (always encrypted), with
    their answers going to the fake platform API."""
    settings.WECHAT_TOKEN, settings.WECHAT_ENCODING_AES_KEY = WECHAT_TOKEN, WECHAT_KEY
    settings.WECOM_CALLBACK_TOKEN, settings.WECOM_ENCODING_AES_KEY = WECOM_TOKEN, WECOM_KEY
    return settings


@pytest.fixture
def wechat(callbacks, client):
    return FakePlatform("wechat", client)


@pytest.fixture
def wecom(callbacks, client):
    return FakePlatform("wecom", client)


@pytest.fixture
def chat_desk(db, sla_setup, make_staff, region):  # noqa: F811 (the fixtures imported above)
    """The region's general queue (no product line: where a chat from WeChat goes) with an
    agent who is online: (queue, agent)."""
    from chat import presence
    from tickets.models import Queue, QueueMember

    agent = make_staff(email="chat.agent@welddesk.example")
    queue = Queue.objects.create(name="East general", slug="east-general", region=region)
    QueueMember.objects.create(queue=queue, agent=agent)
    presence.presence_beat(agent=agent)
    return queue, agent


@pytest.fixture
def bound(make_customer):
    """A customer who bound a platform identity to their account: bound(platform, id)."""
    from django.utils import timezone

    from accounts.services.platforms import platform_identity_bind, platform_identity_seen

    def make(platform: str, external_id: str, customer=None):
        from django.conf import settings

        customer = customer or make_customer(language="zh-hans")
        app_id = settings.WECHAT_APP_ID if platform == "wechat" else settings.WECOM_CORP_ID
        identity = platform_identity_seen(
            platform=platform, app_id=app_id, external_id=external_id, now=timezone.now()
        )
        platform_identity_bind(identity=identity, user=customer, actor=customer)
        return customer

    return make
