"""Operations endpoints, request ids, access logs without personal data, periodic schedules."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test import Client

from servicedesk import views
from testsupport import PASSWORD

pytestmark = pytest.mark.django_db


def test_healthz_touches_no_dependency(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_ready_when_migrated(settings):
    views.reset_readiness_cache()
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "migrations": "ok",
            "encryption_keys": "ok",
            "redis": "ok" if settings.REDIS_URL else "not configured",
        },
    }


@pytest.mark.redis
def test_metrics_report_redis_up(client):
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "welddesk_redis_up 1.0" in text


def test_redis_down_leaves_the_process_ready_but_degraded_in_readyz_and_metrics(settings, client):
    """Redis unreachable: /readyz stays 200 (a load balancer keeps routing to the process,
    which still serves pages and the API) and says "degraded"; /metrics shows
    welddesk_redis_up 0. Both answer promptly instead of hanging on Redis."""
    import time

    from testsupport import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    views.reset_readiness_cache()
    started = time.monotonic()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {
            "database": "ok",
            "migrations": "ok",
            "encryption_keys": "ok",
            "redis": "unreachable",
        },
    }
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "welddesk_redis_up 0.0" in text
    assert time.monotonic() - started < 3


@pytest.fixture
def database_down():
    """Point the connection at a database that cannot be reached, then restore it."""
    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict["PORT"] = "1"
        connection.settings_dict["HOST"] = "127.0.0.1"
    else:
        connection.settings_dict["NAME"] = "/nonexistent-dir/welddesk.sqlite3"
    yield
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(original)


@pytest.mark.django_db(transaction=True)
def test_healthz_stays_up_and_readyz_fails_while_the_database_is_down(database_down):
    client = Client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "unreachable"}}


@pytest.mark.django_db(transaction=True)
def test_readyz_reports_pending_migrations():
    from django.core.management import call_command

    views.reset_readiness_cache()
    call_command("migrate", "notifications", "zero", verbosity=0)
    try:
        response = Client().get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["migrations"] == "pending"
    finally:
        call_command("migrate", verbosity=0)
        views.reset_readiness_cache()
    assert Client().get("/readyz").status_code == 200


def test_metrics_answer_only_allowed_networks(client, settings):
    client.get("/healthz")
    ok = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert ok.status_code == 200
    text = ok.content.decode()
    assert 'welddesk_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 404
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.2.3.4").status_code == 200


def test_forwarded_for_counts_only_from_trusted_proxies(client, settings):
    spoofed = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert spoofed.status_code == 404
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    via_nginx = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert via_nginx.status_code == 404  # the real client is outside the allowed networks


def test_every_response_carries_a_request_id(client):
    assert len(client.get("/healthz")["X-Request-ID"]) == 32
    assert (
        client.get("/healthz", HTTP_X_REQUEST_ID="abc-12345678")["X-Request-ID"] == "abc-12345678"
    )
    assert (
        client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nInjected")["X-Request-ID"]
        != "bad id\nInjected"
    )


def test_logs_carry_no_password_email_or_session_id(client, make_customer, caplog):
    user = make_customer(email="li.na@hengrui.example", full_name="李娜")
    with caplog.at_level(logging.DEBUG):
        client.post(
            "/accounts/login/?email=li.na@hengrui.example",
            {"email": user.email, "password": PASSWORD},
        )
        client.post("/accounts/login/", {"email": user.email, "password": "wrong-password-xyz"})
        client.get("/")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /accounts/login/" in text
    for secret in (
        "li.na",
        "hengrui",
        PASSWORD,
        "wrong-password-xyz",
        "李娜",
        client.cookies["sessionid"].value,
    ):
        assert secret not in text


def test_a_newline_in_a_logged_value_stays_on_one_line():
    from core.logging import RequestContextFilter, SafeFormatter

    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "user %s", ("evil\nFAKE 200 OK\r",), None
    )
    RequestContextFilter().filter(record)
    line = SafeFormatter("%(request_id)s %(message)s").format(record)
    assert "\n" not in line and "\r" not in line
    assert "evil\\nFAKE 200 OK\\r" in line


def test_security_headers_on_pages(client):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert (
        "frame-ancestors 'none'" in csp
        and "script-src 'self'" in csp
        and "unsafe-inline" not in csp
    )
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]


def test_api_docs_are_served_locally(client, make_customer):
    from testsupport import sign_in

    sign_in(client, make_customer())
    docs = client.get("/api/docs/")
    html = docs.content.decode()
    assert "script-src 'self'" in docs["Content-Security-Policy"]
    assert (
        "'unsafe-inline'"
        not in docs["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    )
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/me/" in schema.json()["paths"]


def test_periodic_tasks_are_installed_and_admin_edits_survive():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from core.periodic import ensure_periodic_tasks

    ensure_periodic_tasks()
    sweep = PeriodicTask.objects.get(name="notifications: sweep the outbox")
    assert (sweep.task, sweep.interval.every) == ("notifications.outbox_sweep", 60)
    slower, _ = IntervalSchedule.objects.get_or_create(every=300, period=IntervalSchedule.SECONDS)
    sweep.interval = slower
    sweep.save()
    assert ensure_periodic_tasks() == []
    assert PeriodicTask.objects.get(name="notifications: sweep the outbox").interval.every == 300


def test_models_and_migrations_agree():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
