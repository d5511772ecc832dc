"""Behind a reverse proxy: X-Forwarded-For from outside TRUSTED_PROXIES is ignored, and the
desk says so once per process in its log."""

from __future__ import annotations

import logging

import pytest

from core import net

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_process(monkeypatch):
    """A process that has not warned yet."""
    monkeypatch.setattr(net, "_forwarding_warned", type(net._forwarding_warned)())


def _warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "core.net" and r.levelno == logging.WARNING
    ]


def test_forwarded_for_from_an_untrusted_address_is_warned_about_once(
    client, settings, caplog, fresh_process
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    with caplog.at_level(logging.WARNING, logger="core.net"):
        for n in range(3):
            client.get("/healthz", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    (line,) = _warnings(caplog)
    assert "X-Forwarded-For arrived from 192.0.2.10" in line
    assert "not in TRUSTED_PROXIES" in line
    assert "198.51.100" not in line  # the clients' addresses are not logged


def test_no_trusted_proxies_at_all_is_warned_about_too(client, settings, caplog, fresh_process):
    settings.TRUSTED_PROXIES = []
    with caplog.at_level(logging.WARNING, logger="core.net"):
        client.get("/healthz", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert len(_warnings(caplog)) == 1


def test_forwarded_for_from_a_trusted_proxy_or_no_header_is_not_warned_about(
    client, settings, caplog, fresh_process
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    with caplog.at_level(logging.WARNING, logger="core.net"):
        client.get("/healthz", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="198.51.100.1")
        client.get("/healthz", REMOTE_ADDR="192.0.2.10")
    assert _warnings(caplog) == []
