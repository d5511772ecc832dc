"""The password-reset throttle behind a reverse proxy: it counts per real client
(`core.net.client_ip`), not per proxy address."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"


def _ask(client, email: str, *, remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("accounts:password_reset"), {"email": email}, **extra)


def test_22_clients_behind_a_trusted_proxy_all_get_their_reset_mail(
    client, make_customer, settings, django_capture_on_commit_callbacks
):
    """Every client behind nginx used to share the proxy's bucket of 20 an hour: the 21st
    and 22nd customer got the same "sent" page and no mail."""
    cache.clear()
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    customers = [make_customer(email=f"reset{n}@factory.example") for n in range(22)]
    for n, customer in enumerate(customers):
        with django_capture_on_commit_callbacks(execute=True):
            response = _ask(client, customer.email, remote=PROXY, forwarded=f"198.51.100.{n + 1}")
        assert response.status_code == 302
    assert len(mail.outbox) == 22
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in customers)


def test_one_client_behind_the_proxy_is_still_limited_to_20_an_hour(
    client, make_customer, settings, django_capture_on_commit_callbacks
):
    cache.clear()
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    customers = [make_customer(email=f"same{n}@factory.example") for n in range(22)]
    for customer in customers:
        with django_capture_on_commit_callbacks(execute=True):
            response = _ask(client, customer.email, remote=PROXY, forwarded="198.51.100.7")
        assert response.status_code == 302  # the same answer, throttled or not
    assert len(mail.outbox) == 20


def test_a_forged_forwarded_for_from_an_untrusted_address_gets_no_fresh_bucket(
    client, make_customer, settings, django_capture_on_commit_callbacks
):
    cache.clear()
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    customers = [make_customer(email=f"forged{n}@factory.example") for n in range(22)]
    for n, customer in enumerate(customers):
        with django_capture_on_commit_callbacks(execute=True):
            _ask(client, customer.email, remote="203.0.113.9", forwarded=f"198.51.100.{n + 1}")
    assert len(mail.outbox) == 20
