"""Production settings on real responses: a Daphne process with DEBUG off, asked as nginx would.

Not the settings but what goes over the wire: the Set-Cookie and security headers of real
answers, the redirect of plain HTTP, and the refusal of plain ws:// (checklist 11 and 15).
TLS ends at nginx, which sends `X-Forwarded-Proto: https` from a trusted proxy address.
"""

from __future__ import annotations

import asyncio
import http.client
import re
from urllib.parse import urlencode

import pytest
from django.test import Client

from chat.tests.servers import daphne_servers
from testsupport import PASSWORD, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "localhost"
FROM_NGINX = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture
def production_server(tmp_path):
    env = {
        "TRUSTED_PROXIES": "127.0.0.1/32",  # nginx on the same host
        "SITE_URL": f"https://{HOST}",
        "STATIC_MANIFEST": "0",  # no collectstatic in a test
    }
    with daphne_servers(1, tmp_path, redis=False, debug=False, extra_env=env) as ports:
        yield ports[0]


def request(port: int, method: str, path: str, headers: dict, body: str | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response, response.read().decode()
    finally:
        connection.close()


def cookie(response, name: str) -> tuple[str, set[str]]:
    """The value of a Set-Cookie and its attributes (lower-cased names, with their values)."""
    for header in response.headers.get_all("Set-Cookie") or []:
        first, *attributes = [part.strip() for part in header.split(";")]
        if first.startswith(f"{name}="):
            return first.split("=", 1)[1], {a.lower() for a in attributes}
    raise AssertionError(f"no {name} cookie in {response.headers.get_all('Set-Cookie')}")


def assert_host_cookie(attributes: set[str]) -> None:
    """Secure, HttpOnly, SameSite=Lax, and what the __Host- prefix demands (Path=/, no
    Domain)."""
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes, attributes
    assert not any(a.startswith("domain=") for a in attributes)


def test_real_production_responses_carry_secure_cookies_and_security_headers(
    production_server, make_customer, settings
):
    """Checklist 11 on the wire: the CSRF and session cookies are __Host-, Secure, HttpOnly
    and SameSite=Lax; every answer has HSTS for a year with subdomains, a CSP with
    frame-ancestors and nosniff; plain HTTP is redirected to HTTPS."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = make_customer()  # hashed as the server hashes (tests hash with MD5 otherwise)
    port = production_server

    page, html = request(port, "GET", "/accounts/login/", FROM_NGINX)
    assert page.status == 200
    csrf_cookie, attributes = cookie(page, "__Host-csrftoken")
    assert_host_cookie(attributes)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    signed_in, _ = request(
        port,
        "POST",
        "/accounts/login/",
        {
            **FROM_NGINX,
            "Origin": f"https://{HOST}",
            "Cookie": f"__Host-csrftoken={csrf_cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        urlencode({"email": user.email, "password": PASSWORD, "csrfmiddlewaretoken": token}),
    )
    assert signed_in.status == 302, signed_in.status
    _session, attributes = cookie(signed_in, "__Host-sessionid")
    assert_host_cookie(attributes)

    for response in (page, signed_in):
        hsts = response.headers["Strict-Transport-Security"]
        max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
        assert max_age >= 31536000 and "includeSubDomains" in hsts
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"

    plain, _ = request(port, "GET", "/accounts/login/", {"Host": HOST})
    assert plain.status == 301 and plain.headers["Location"] == f"https://{HOST}/accounts/login/"


def test_plain_ws_is_refused_by_a_production_server(production_server, make_customer):
    """Checklist 15 on the wire: a WebSocket that did not come through TLS is refused at the
    handshake; the same socket through nginx's TLS (X-Forwarded-Proto: https from the trusted
    proxy) is admitted."""
    websockets = pytest.importorskip("websockets.asyncio.client")
    from websockets.exceptions import InvalidStatus

    user = make_customer()
    client = Client()
    sign_in(client, user)
    session = client.cookies["sessionid"].value  # the same session row, under the prod name
    port = production_server

    async def connect(headers: dict) -> str:
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/ws/events/",
                origin=f"https://{HOST}",
                additional_headers={"Cookie": f"__Host-sessionid={session}", **headers},
                open_timeout=10,
            ) as ws:
                await ws.send('{"type": "ping"}')
                return await asyncio.wait_for(ws.recv(), 10)
        except InvalidStatus as refused:
            return f"refused {refused.response.status_code}"

    through_tls = {k: v for k, v in FROM_NGINX.items() if k != "Host"}  # the client sends Host
    assert asyncio.run(connect({})) == "refused 403"
    assert asyncio.run(connect(through_tls)) == '{"type": "pong"}'
