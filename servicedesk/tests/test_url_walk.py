"""Walks over every URL pattern of the project, read from the resolver (never listed by hand).

1. Bad input: each path parameter replaced by a NUL byte and by a 2,000-character segment,
   and each pattern with a NUL and an over-long query value, as anonymous, customer, agent
   (view-only in much of the admin) and superuser: never a 5xx (issue 17, point 7).
2. Tenancy: every pattern that takes an object id, with GET, POST, PUT, PATCH and DELETE, as
   a customer of organisation A (portal session and partner API key) against the object of
   organisation B: answered exactly as for an id that does not exist (404, or 405 where the
   method is not allowed, or the sign-in redirect where A's credential does not apply), B's
   objects unchanged, and every refusal of B's object audited (checklist 12 and 16).
   A new pattern with a path parameter fails the walk until it is classified below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from audit.models import AuditEvent
from servicedesk.tests.conftest import png
from testsupport import sign_in

pytestmark = pytest.mark.django_db

LONG = 2000


@dataclass(frozen=True)
class Pattern:
    name: str  # "namespace:name", or the route where the pattern has no name
    parts: tuple[tuple[str, Any], ...]  # (kind, pattern) of each nesting level

    def path(self, value_for: Callable[[str, str], str]) -> str:
        """The concrete path, each parameter given by value_for(converter, name)."""
        out = []
        for kind, pattern in self.parts:
            out.append(
                _fill_route(pattern, value_for)
                if kind == "route"
                else _fill_regex(pattern, value_for)
            )
        return "/" + "".join(out)

    @property
    def params(self) -> list[tuple[str, str]]:
        """(converter, name) of every path parameter."""
        found = []
        for kind, pattern in self.parts:
            if kind == "route":
                found += [(conv or "str", name) for conv, name in _ROUTE_PARAM.findall(pattern)]
            else:
                found += [("regex", name) for name in re.findall(r"\(\?P<(\w+)>", pattern)]
        return found

    @property
    def is_admin(self) -> bool:
        return self.parts[0][1] == "admin/"


_ROUTE_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def _fill_route(route: str, value_for: Callable[[str, str], str]) -> str:
    return _ROUTE_PARAM.sub(lambda m: value_for(m.group(1) or "str", m.group(2)), route)


def _fill_regex(regex: str, value_for: Callable[[str, str], str]) -> str:
    """Replace each named group (balanced parentheses) by its value; drop ^ and $."""
    out, i = [], 0
    while i < len(regex):
        match = re.compile(r"\(\?P<(\w+)>").match(regex, i)
        if match:
            depth, j = 1, match.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(regex[j], 0)
                j += 1
            out.append(value_for("regex", match.group(1)))
            i = j
            continue
        if regex[i] not in "^$\\":
            out.append(regex[i])
        i += 1
    return "".join(out)


def _walk(resolver: URLResolver, parts: tuple, namespace: str) -> Iterator[Pattern]:
    for entry in resolver.url_patterns:
        kind = "route" if isinstance(entry.pattern, RoutePattern) else "regex"
        text = entry.pattern._route if kind == "route" else entry.pattern._regex
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry, (*parts, (kind, text)), inner)
        elif isinstance(entry, URLPattern):
            full = (*parts, (kind, text))
            name = f"{namespace}{entry.name}" if entry.name else "".join(p for _k, p in full)
            yield Pattern(name=name, parts=full)


def all_patterns() -> list[Pattern]:
    return list(_walk(get_resolver(), (), ""))


PATTERNS = all_patterns()


# ----------------------------------------------------------------------- 1. bad input


def _nul(converter: str, name: str) -> str:
    return "%00"


def _long(converter: str, name: str) -> str:
    return ("9" if converter == "int" else "x") * LONG


def _sample(converter: str, name: str) -> str:
    return "1" if converter in ("int", "path", "regex") else "sample"


def _requests_for(pattern: Pattern) -> Iterator[str]:
    if pattern.params:
        yield pattern.path(_nul)
        yield pattern.path(_long)
    base = pattern.path(_sample)
    yield base + "?q=%00&page=%00"
    yield base + "?q=" + "x" * LONG + "&page=" + "9" * LONG


@pytest.fixture
def principals(tenants, make_staff, django_user_model):
    a, _b = tenants
    superuser = make_staff(roles=(), email="root@welddesk.example", is_superuser=True)
    agent = make_staff(roles=("agent",), email="viewer@welddesk.example")
    return {
        "anonymous": Client(raise_request_exception=False),
        "customer": sign_in(Client(raise_request_exception=False), a.customer),
        "api_key": Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Api-Key {a.key}"),
        "agent": sign_in(Client(raise_request_exception=False), agent),
        "superuser": sign_in(Client(raise_request_exception=False), superuser),
    }


def test_the_walk_sees_every_pattern():
    """The walk reads the resolver: the portal, the API, the admin and its regex patterns."""
    names = {p.name for p in PATTERNS}
    assert {"portal:ticket", "api-ticket-reply", "admin:accounts_user_change"} <= names
    assert any(p.parts[-1][0] == "regex" for p in PATTERNS)
    assert len(PATTERNS) > 250


@pytest.mark.parametrize("who", ["anonymous", "customer", "api_key", "agent", "superuser"])
def test_no_pattern_answers_5xx_to_a_nul_or_an_over_long_segment(principals, who):
    client = principals[who]
    failures = []
    for pattern in PATTERNS:
        for path in _requests_for(pattern):
            status = client.get(path).status_code
            if status >= 500:
                failures.append(f"{status} GET {path[:120]} ({pattern.name})")
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------ 2. tenancy


# The object of organisation B each path parameter names, per pattern.
FOREIGN: dict[str, Callable[[Any], dict[str, Any]]] = {
    "api-organisation": lambda b: {"pk": b.org.pk},
    "api-ticket": lambda b: {"reference": b.ticket.reference},
    "api-ticket-reply": lambda b: {"reference": b.ticket.reference},
    "api-ticket-close": lambda b: {"reference": b.ticket.reference},
    "api-unit": lambda b: {"serial_number": b.unit.serial_number},
    "api-unit-alarms": lambda b: {"serial_number": b.unit.serial_number},
    "api-unit-alarms-slash": lambda b: {"serial_number": b.unit.serial_number},
    "portal:ticket": lambda b: {"reference": b.ticket.reference},
    "portal:machine": lambda b: {"serial": b.unit.serial_number},
    "portal:shipment": lambda b: {"pk": b.shipment.pk},
    "tickets:attachment": lambda b: {"pk": b.attachment.pk},
    "chat:upload": lambda b: {"conversation_id": b.conversation.pk},
    "chat:attachment": lambda b: {"pk": b.chat_attachment.pk},
    "portal:platform_unlink": lambda b: {"pk": b.identity.pk},
}
# Patterns whose parameters name nothing that belongs to a customer organisation, and why.
NOT_TENANT_OBJECTS = {
    "accounts:password_reset_confirm": "a signed one-time link, not an object id",
    "tickets:survey": "a signed survey token",
    "status:incident": "the public status page",
    "status:report": "the public status page",
    "status:confirm": "a signed subscription token",
    "status:unsubscribe": "a signed subscription token",
    "portal:article": "published help articles are for every customer",
    "portal:fault_code": "the fault-code catalogue is for every customer",
    "admin-report": "a report's name; its figures are scoped to the viewer's regions "
    "(servicedesk/tests/test_reports.py)",
}
# Patterns only an alarms key may POST to: other callers are refused by scope (403) whatever
# the serial, so the walk adds an alarms key of A's organisation there.
ALARMS = {"api-unit-alarms", "api-unit-alarms-slash"}
# The admin is closed to customers and API keys whatever the id (staff scoping by region is
# walked by the admin's own tests).
ADMIN = "admin"

ID_PATTERNS = [p for p in PATTERNS if p.params]
TENANT_PATTERNS = [p for p in ID_PATTERNS if not p.is_admin and p.name not in NOT_TENANT_OBJECTS]
METHODS = ("get", "post", "put", "patch", "delete")


def test_every_pattern_with_a_path_parameter_is_classified():
    """A new pattern taking an id must say which object it names (FOREIGN) or why it names
    none (NOT_TENANT_OBJECTS); then the walk below checks it hides other tenants' objects."""
    unknown = [p.name for p in TENANT_PATTERNS if p.name not in FOREIGN]
    assert unknown == [], f"classify these URL patterns in {__name__}: {unknown}"
    stale = set(FOREIGN) | set(NOT_TENANT_OBJECTS)
    assert stale <= {p.name for p in ID_PATTERNS}, "remove entries of patterns that are gone"


def _missing_like(value: Any) -> Any:
    return 987_654_321 if isinstance(value, int) else "ZZ-0404-404404"


def _send(client: Client, method: str, path: str, *, api: bool):
    if method == "get":
        return client.get(path)
    if api:
        body = json.dumps({"body": "from A", "subject": "from A", "name": "from A"})
        return getattr(client, method)(path, body, content_type="application/json")
    if method == "post":
        return client.post(path, {"action": "reply", "body": "from A", "file": png()})
    return getattr(client, method)(path, "body=from+A", "application/x-www-form-urlencoded")


def _snapshot(b) -> list:
    """What A's requests must not change: every column of B's objects, and their children."""
    from chat.models import ChatAttachment
    from tickets.models import Attachment, Message

    rows = [
        type(obj).objects.filter(pk=obj.pk).values().get()
        for obj in (b.org, b.ticket, b.unit, b.shipment, b.attachment, b.conversation, b.identity)
    ]
    return [
        *rows,
        Message.objects.filter(ticket=b.ticket).count(),
        Attachment.objects.filter(ticket=b.ticket).count(),
        ChatAttachment.objects.filter(conversation=b.conversation).count(),
    ]


def _foreign_targets(b) -> set[tuple[str, str]]:
    """The audit references (target type, id) of B's objects."""
    from audit.services import target_ref_for

    objects = (b.org, b.ticket, b.unit, b.shipment, b.attachment, b.conversation, b.identity)
    return {tuple(map(str, target_ref_for(obj))) for obj in (*objects, b.chat_attachment)}


@pytest.mark.parametrize(
    "name", [p.name for p in TENANT_PATTERNS if p.name in FOREIGN] + [ADMIN], ids=str
)
def test_another_organisations_object_answers_like_a_missing_one(tenants, name):
    a, b = tenants
    if name == ADMIN:
        walked = [(p, {n: b.ticket.pk for _c, n in p.params}) for p in ID_PATTERNS if p.is_admin]
    else:
        pattern = next(p for p in TENANT_PATTERNS if p.name == name)
        walked = [(pattern, FOREIGN[name](b))]
    callers = {
        "customer": sign_in(Client(raise_request_exception=False), a.customer),
        "api_key": Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Api-Key {a.key}"),
    }
    if name == ADMIN:
        del callers["api_key"]  # the admin takes sessions only: a key is no one there
    if name in ALARMS:  # only a key of the alarms scope gets past the scope check there
        from accounts.services.api_keys import api_key_create

        _key, token = api_key_create(actor=None, organisation=a.org, name="GW", scope="alarms")
        callers["alarms_key"] = Client(
            raise_request_exception=False, HTTP_AUTHORIZATION=f"Api-Key {token}"
        )
    before = _snapshot(b)
    denied_before = AuditEvent.objects.filter(action="access.denied").count()
    refusals = 0
    for pattern, foreign in walked:
        missing = {key: _missing_like(value) for key, value in foreign.items()}
        foreign_path = pattern.path(lambda _c, n, values=foreign: str(values[n]))
        missing_path = pattern.path(lambda _c, n, values=missing: str(values[n]))
        api = foreign_path.startswith("/api/")
        for who, client in callers.items():
            for method in METHODS:
                theirs = _send(client, method, foreign_path, api=api)
                nothing = _send(client, method, missing_path, api=api)
                where = f"{who} {method.upper()} {foreign_path}"
                assert theirs.status_code == nothing.status_code, where
                assert theirs.status_code in (302, 403, 404, 405), where
                if theirs.status_code == 403:  # refused by the key's scope, before any lookup
                    assert name in ALARMS and who != "alarms_key", where
                if theirs.status_code == 302:
                    assert "/login/" in theirs["Location"], where
                if theirs.status_code == 404:
                    refusals += 1
                if theirs.get("Content-Type", "").startswith("application/json"):
                    assert theirs.json() == nothing.json(), where
    assert _snapshot(b) == before
    if name == ADMIN:
        return
    assert refusals, "the walk refused nothing: it proves nothing"
    # Every refusal of B's object was audited with the object's id (a missing id writes none).
    events = AuditEvent.objects.filter(action="access.denied").order_by("pk")[denied_before:]
    assert len(events) >= refusals
    # (A scope refusal is audited too, naming the route, not an object.)
    scope_refusals = {("url", name)} if name in ALARMS else set()
    assert {(e.target_type, e.target_id) for e in events} <= _foreign_targets(b) | scope_refusals
    assert all(e.outcome == "denied" for e in events)
