"""A small OpenID Connect provider on loopback, for the single sign-on tests.

A real HTTP server in a thread: discovery, an authorize endpoint that redirects back with a
code (checking the client and the redirect URI), a token endpoint that checks the client
secret, the code (once) and the PKCE verifier and issues an RS256-signed ID token, JWKS,
userinfo, and refresh tokens. Each test sets the person (`provider.person`) and can make the
provider forget them (`remove`), refuse refreshes or fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "welddesk-test"
CLIENT_SECRET = "not-a-real-secret"


class FakeProvider:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.person: dict[str, Any] = {}
        self.id_token_extra: dict[str, Any] = {}  # amr, acr, or a wrong aud for a test
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, str] = {}  # token -> sub
        self.refresh_tokens: dict[str, str] = {}
        self.removed: set[str] = set()
        self.refuse_refresh = False
        self.userinfo_status: int | None = None  # force an answer (500: provider trouble)
        self.issue_refresh_tokens = True
        self.expires_in = 300
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def remove(self, sub: str) -> None:
        """The account is deleted at the provider: its tokens stop working."""
        self.removed.add(sub)

    # Protocol ---------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        return {"keys": [jwk]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, {}, {"error": "invalid_request"}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": query.get("nonce"),
            "redirect_uri": query["redirect_uri"],
            "challenge": query.get("code_challenge"),
            "scope": query.get("scope", ""),
        }
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return 302, {"Location": target}, None

    def _tokens(self, *, nonce: str | None) -> dict[str, Any]:
        sub = self.person["sub"]
        access = secrets.token_urlsafe(24)
        self.access_tokens[access] = sub
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": sub,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 600,
            "email": self.person.get("email"),
            **({"nonce": nonce} if nonce else {}),
            **self.id_token_extra,
        }
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        answer = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "id_token": id_token,
        }
        if self.issue_refresh_tokens:
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = sub
            answer["refresh_token"] = refresh
        return answer

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {}, {"error": "invalid_client"}
        if form.get("grant_type") == "refresh_token":
            sub = self.refresh_tokens.get(form.get("refresh_token", ""))
            if self.refuse_refresh or sub is None or sub in self.removed:
                return 400, {}, {"error": "invalid_grant"}
            return 200, {}, self._tokens(nonce=None)
        grant = self.codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return 400, {}, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return 400, {}, {"error": "invalid_grant", "error_description": "PKCE"}
        return 200, {}, self._tokens(nonce=grant["nonce"])

    def userinfo(self, authorization: str) -> tuple[int, dict[str, str], Any]:
        if self.userinfo_status is not None:
            return self.userinfo_status, {}, {"error": "server_error"}
        token = authorization.removeprefix("Bearer ").strip()
        sub = self.access_tokens.get(token)
        if sub is None or sub in self.removed:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {}
        return 200, {}, {k: v for k, v in self.person.items() if k not in ("amr", "acr")}

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                provider.requests.append(parts.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self._answer(200, {}, provider.discovery())
                elif parts.path == "/jwks":
                    self._answer(200, {}, provider.jwks())
                elif parts.path == "/authorize":
                    self._answer(*provider.authorize(query))
                elif parts.path == "/userinfo":
                    self._answer(*provider.userinfo(self.headers.get("Authorization", "")))
                else:
                    self._answer(404, {}, {"error": "not_found"})

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                provider.requests.append(parts.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if parts.path == "/token":
                    self._answer(*provider.token(form))
                else:
                    self._answer(404, {}, {"error": "not_found"})

        return Handler
