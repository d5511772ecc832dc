"""Schemathesis over the whole OpenAPI schema, in process (checklist 50; issue 17, point 13).

Every operation of the schema the desk serves is fuzzed, once as a partner system (an API
key of organisation A) and once as a customer of A signed in to the portal (session cookie
and CSRF token); the machine webhooks with their bearer tokens. Schemathesis's checks, all
of them but these:

- `positive_data_acceptance`: data valid by the schema may still be refused by the desk's
  rules (a serial number that is not A's, a ticket reference that does not exist): 400/404
  are right answers, documented as such.
- `use_after_free`, `ensure_resource_availability`: the API deletes nothing and has no
  create-then-read links in the schema for these checks to follow.
- `max_response_time`: timing belongs to the benchmarks (docs/performance.md), not to a
  shared CI machine.

and one generation option, `allow-extra-parameters`, is off: the API ignores parameters and
fields it does not know (clients stay forward compatible, and `?organisation=<another>` is
ignored rather than obeyed, checklist 13), so undocumented extras are not negative data here.

The rest (no server error, status codes and content types documented, responses matching
their schema, required headers, negative data refused, unsupported methods answered 405,
authentication not ignored, no other organisation's object reached) must pass. Bounded in
time: a few examples per operation, under a minute per kind of caller.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

import pytest
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is in requirements-dev.txt: pip install -r it"
)

from schemathesis.specs.openapi import checks as openapi_checks  # noqa: E402

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "12"))
MACHINE_TOKEN = "machine-token-for-fuzzing"
EXCLUDED_CHECKS = ("positive_data_acceptance", "use_after_free", "ensure_resource_availability")


def _schema() -> Any:
    """The schema the desk serves, loaded at collection (it needs no database)."""
    from drf_spectacular.generators import SchemaGenerator

    raw = SchemaGenerator().get_schema(request=None, public=True)
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"generation": {"allow-extra-parameters": False}}
    )
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(raw, default=str)), config=config)
    schema.app = WSGIHandler()
    return schema


schema = _schema()


@pytest.fixture(autouse=True)
def _in_process(settings_for_fuzzing):
    """Django as a WSGI app on the test's own database connection, as django.test.Client
    runs it (recycling connections per request would end the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def settings_for_fuzzing(settings):
    cache.clear()
    settings.API_KEY_RATE_PER_MINUTE = 100_000
    settings.API_USER_RATE_PER_MINUTE = 100_000
    settings.ALERTMANAGER_TOKEN = MACHINE_TOKEN
    settings.TELEPHONY_TOKEN = MACHINE_TOKEN
    settings.KUAIDI100_SALT = "fuzz-salt"
    # The WeChat and WeCom callbacks on (safe mode): fuzzed past their 404 to the checks.
    settings.WECHAT_TOKEN = settings.WECOM_CALLBACK_TOKEN = "fuzz-token"
    settings.WECHAT_APP_ID, settings.WECOM_CORP_ID = "wxfuzz", "wwfuzz"
    settings.WECHAT_ENCODING_AES_KEY = settings.WECOM_ENCODING_AES_KEY = "k" * 43
    settings.ALLOWED_HOSTS = ["*"]
    return settings


# The credentials of the running test's caller, which its fixture sets.
_CALLER: dict[str, dict] = {}


@schema.auth()
class _CallerAuth:
    """Schemathesis's auth provider: the fixture's caller, or the bearer token of a machine
    webhook (explicit credentials, so the ignored-auth check knows them from generated ones)."""

    def get(self, case, context):
        if {"MachineBearer": []} in (case.operation.definition.raw.get("security") or []):
            return {"headers": {"Authorization": f"Bearer {MACHINE_TOKEN}"}, "cookies": {}}
        return _CALLER.get("auth")  # None while collecting: no credentials yet

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), **data["headers"]}
        case.cookies = {**(case.cookies or {}), **data["cookies"]}


@pytest.fixture
def partner_key(tenants):
    """An API key of organisation A."""
    a, _b = tenants
    _CALLER["auth"] = {"headers": {"Authorization": f"Api-Key {a.key}"}, "cookies": {}}
    yield
    _CALLER.clear()


@pytest.fixture
def customer(tenants, client):
    """A customer of organisation A signed in to the portal: session cookie and CSRF token."""
    from django.conf import settings as django_settings

    a, _b = tenants
    client.force_login(a.customer)
    csrf = secrets.token_hex(16)  # 32 characters: an unmasked CSRF secret
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    _CALLER["auth"] = {
        "headers": {"X-CSRFToken": csrf},
        "cookies": {
            django_settings.SESSION_COOKIE_NAME: session,
            django_settings.CSRF_COOKIE_NAME: csrf,
        },
    }
    yield
    _CALLER.clear()


def call_and_validate(case) -> None:
    case.call_and_validate(
        excluded_checks=[getattr(openapi_checks, name) for name in EXCLUDED_CHECKS]
    )


FUZZING = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@FUZZING
def test_the_whole_schema_holds_for_a_partner_key(case, partner_key):
    call_and_validate(case)


@schema.parametrize()
@FUZZING
def test_the_whole_schema_holds_for_a_signed_in_customer(case, customer):
    call_and_validate(case)
