"""Test fixtures shared by every app: services on demand, people, signed-in clients."""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlparse

os.environ.setdefault("WELDDESK_STARTUP_CHECKS", "0")  # tests call the checks explicitly

import pytest

from testsupport import CHROMIUM_ARGS, PASSWORD, chromium, sign_in

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes", "on"}


def _redis_reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1
        ):
            return True
    except OSError:
        return False


def _need(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _services(request):
    """Skip (or, with REQUIRE_SERVICES=1, fail) tests marked postgres/redis without them."""
    if request.node.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            _need("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if request.node.get_closest_marker("redis"):
        url = os.environ.get("REDIS_URL", "")
        if not url:
            _need("needs Redis: set REDIS_URL=redis://...")
        elif not _redis_reachable(url):
            _need(f"needs Redis, but {url} does not answer")


@pytest.fixture(autouse=True, scope="session")
def _audit_tables_may_be_flushed():
    """Let pytest-django empty the audit tables between transactional tests on PostgreSQL.

    Triggers refuse TRUNCATE of the audit chain (audit/migrations/0005) unless the table's
    owner sets `welddesk.audit_wipe` in the transaction; Django's flush does that here only,
    so `manage.py flush` against a real desk is still refused.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        wipe = "SELECT set_config('welddesk.audit_wipe', 'on', true)"
        return [wipe, *statements] if statements else statements

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original


@pytest.fixture(autouse=True)
def _empty_local_cache():
    """Each test starts with an empty in-memory cache: on SQLite a rolled-back test's ids are
    used again, so a throttle counted for user 7 in one test would hold user 7 of the next.
    (The Redis cache of the PostgreSQL run is left alone: its ids are never reused, and it is
    shared with the broker.)"""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture(autouse=True)
def _language_of_its_own():
    """Each test starts in the default language: a request in Chinese activates Chinese for
    the thread (LocaleMiddleware does not undo it), which a later test would inherit."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    """Hash passwords cheaply in tests (the timing test restores a real hasher)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _audit_sealing(request, settings):
    """Seal audit events inline, so a test sees them at once inside its transaction.

    Production on PostgreSQL seals after commit (AUDIT_SEALING=deferred); the tests marked
    `audit_deferred` run that way and check it (audit/tests/test_deferred.py, the API tests).
    """
    deferred = request.node.get_closest_marker("audit_deferred") is not None
    settings.AUDIT_SEALING = "deferred" if deferred else "inline"


@pytest.fixture(autouse=True)
def _audit_checkpoint_store(settings, tmp_path_factory):
    """Each test starts with its own empty checkpoint store, never the desk's file in var/."""
    settings.AUDIT_CHECKPOINT_PATH = str(
        tmp_path_factory.getbasetemp() / f"audit-checkpoints-{uuid.uuid4().hex}.jsonl"
    )


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Per-process caches of rows (SLA policies, calendars, active queues) must not outlive a
    test's database: a cached queue of an earlier test would route a ticket to a row that no
    longer exists. Every app's tests open tickets, so every test starts and ends without them."""
    from tickets.selectors import forget_canned_responses
    from tickets.services.assignment import clear_queue_cache
    from tickets.services.calendars import clear_calendar_cache
    from tickets.services.references import forget_sequences
    from tickets.services.sla import clear_policy_cache

    clears = (
        clear_calendar_cache,
        clear_policy_cache,
        clear_queue_cache,
        forget_sequences,
        # In the shared cache (Redis on the PostgreSQL run): a test's rows are rolled back,
        # never committed, so the commit that would drop the cached list never comes.
        forget_canned_responses,
    )
    for clear in clears:
        clear()
    yield
    for clear in clears:
        clear()


@pytest.fixture(autouse=True)
def _eager_celery():
    """Run tasks in-process; tests of real workers start their own worker processes."""
    from servicedesk.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture(autouse=True)
def _locmem_outputs(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "notifications.sms.LocmemSMSBackend"
    settings.WECOM_BACKEND = "notifications.wecom.LocmemWeComBackend"
    from notifications.sms import LocmemSMSBackend

    LocmemSMSBackend.outbox = []
    from notifications.wecom import HttpWeComBackend, LocmemWeComBackend

    LocmemWeComBackend.outbox = []
    settings.WECHAT_BACKEND = "notifications.wechat.LocmemWeChatBackend"
    from notifications.wechat import LocmemWeChatBackend

    LocmemWeChatBackend.outbox = []
    HttpWeComBackend._token = None  # a cached access token would leak between tests
    from core.queue import reset_breaker

    reset_breaker()


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def region(db):
    from accounts.models import Region

    return Region.objects.get(code="east")


@pytest.fixture
def make_org(db):
    from accounts import services
    from accounts.models import Region

    counter = {"n": 0}

    def make(name: str | None = None, *, region: str = "east", **fields):
        counter["n"] += 1
        return services.organisation_create(
            actor=None,
            name=name or f"测试焊接有限公司 {counter['n']}",
            region=Region.objects.get(code=region),
            **fields,
        )

    return make


@pytest.fixture
def make_customer(db, make_org):
    from accounts import services

    counter = {"n": 0}

    def make(org=None, *, email: str | None = None, **fields):
        counter["n"] += 1
        fields.setdefault("full_name", f"客户 {counter['n']}")
        return services.user_create(
            email=email or f"customer{counter['n']}@factory.example",
            password=PASSWORD,
            organisation=org or make_org(),
            **fields,
        )

    return make


@pytest.fixture
def make_staff(db):
    from accounts import services
    from accounts.models import Region

    counter = {"n": 0}

    def make(*, roles=("agent",), email: str | None = None, regions=None, **fields):
        """A staff member; by default of East China, where make_org puts organisations.

        Agents see only their regions' customers (none without a region: fail closed), so
        `regions=()` makes an agent who sees nothing.
        """
        counter["n"] += 1
        if regions is None:
            regions = [Region.objects.get(code="east")]
        fields.setdefault("full_name", f"Agent {counter['n']}")
        return services.user_create(
            email=email or f"staff{counter['n']}@welddesk.example",
            password=PASSWORD,
            is_staff=True,
            roles=roles,
            regions=regions,
            **fields,
        )

    return make


@pytest.fixture
def staff_client(client, make_staff):
    def make(**kwargs):
        user = make_staff(**kwargs)
        sign_in(client, user)
        return client, user

    return make


@pytest.fixture
def browser(monkeypatch):
    """A headless Chromium (tests marked browser; see testsupport.browser_marks)."""
    playwright_sync = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous and on their own connection, so Django's async guard does not apply.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connections

    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
            # The test's own queries ran while Playwright's loop was current, which gives them
            # a connection of their own: close it, or the test database cannot be dropped.
            connections.close_all()


@pytest.fixture(scope="session")
def clamd_server(tmp_path_factory):
    """One clamd for the session, on a free loopback port (skips without clamav-daemon)."""
    from testsupport import Clamd, clamd_binary

    if clamd_binary() is None:
        _need("needs clamd: apt-get install -y clamav-daemon (the CI script installs it)")
    server = Clamd(tmp_path_factory.mktemp("clamd"))
    yield server
    server.stop()


@pytest.fixture
def clamd(clamd_server, settings):
    """Scan uploads with the test clamd."""
    settings.CLAMD_ADDRESS = clamd_server.address
    settings.CLAMD_TIMEOUT_SECONDS = 10
    return clamd_server


@pytest.fixture(scope="session")
def s3_server():
    """One S3 API server (moto's) for the session, on a free loopback port."""
    from testsupport import S3Server

    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, settings, monkeypatch, tmp_path):
    """Uploads in a fresh private bucket of the test S3 server, configured as an operator
    would (STORAGE_BACKEND=s3 and the S3_* variables, read by the settings' own code), under
    a prefix. MEDIA_ROOT points at an empty folder, so a file on the local disk would show."""
    from servicedesk.env import s3_storage_options
    from testsupport import Bucket

    bucket = Bucket(s3_server, f"welddesk-{uuid.uuid4().hex[:12]}", prefix="desk")
    for name, value in {
        "S3_BUCKET": bucket.name,
        "S3_ENDPOINT_URL": s3_server.endpoint,
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY": s3_server.ACCESS_KEY,
        "S3_SECRET_KEY": s3_server.SECRET_KEY,
        "S3_PREFIX": bucket.prefix,
        "S3_SERVER_SIDE_ENCRYPTION": "AES256",
    }.items():
        monkeypatch.setenv(name, value)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.S3_SIGNED_URL_SECONDS = 60
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "core.s3.PrivateS3Storage",
            "OPTIONS": s3_storage_options(signed_url_seconds=60),
        },
    }
    return bucket


@pytest.fixture
def webhook_receiver(settings):
    """A partner's system on loopback (testsupport.WebhookReceiver); the desk may call it
    (http and a private address allowed, as only tests and closed installations do)."""
    from testsupport import WebhookReceiver

    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_ALLOW_HTTP = True
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()
