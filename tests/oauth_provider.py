"""Stand-ins at the network edge for OAuth tests: a token endpoint on loopback, and an SMTP relay that checks XOAUTH2.

`Provider` is a real HTTP server (device authorization, consent page, token endpoint, and the
token introspection Dovecot asks about XOAUTH2 logins) whose refresh tokens can be revoked; `XOAuthRelay` is a real aiosmtpd server that accepts mail only
after `AUTH XOAUTH2` with `user=...^Aauth=Bearer <a token the provider issued>^A^A`, answering a
bad token as Gmail does (334 with a base64 JSON status, then 535).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from aiosmtpd.smtp import AuthResult

from tests.smtp_sink import Sink


class Provider:
    """A token endpoint with the device, installed-app and refresh grants."""

    def __init__(self, *, lifetime: int = 3600, pending_polls: int = 2, user: str = "soporte@example.com") -> None:
        self.lifetime, self.pending_polls, self.user = lifetime, pending_polls, user
        self.issued: list[str] = []
        self.refresh_tokens = {"rt-1"}
        self.revoked: set[str] = set()
        self.grants: list[str] = []
        self.challenge = ""
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = provider.post(urlparse(self.path).path, form)
                self._send(status, body)

            def do_GET(self) -> None:  # noqa: N802
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                provider.challenge = query.get("code_challenge", "")
                target = f"{query['redirect_uri']}?{urlencode({'code': 'code-1', 'state': query['state']})}"
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def post(self, path: str, form: dict) -> tuple[int, dict]:
        if path == "/introspect":
            # What Dovecot asks (RFC 7662): is this access token live, and whose is it?
            live = form.get("token") in self.issued
            return 200, {"active": True, "username": self.user} if live else {"active": False}
        if path == "/device":
            return 200, {"device_code": "dev-1", "user_code": "WDJB-MJHT", "expires_in": 600, "interval": 0,
                         "verification_uri": f"{self.url}/verify"}
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant.endswith("device_code"):
            if self.pending_polls:
                self.pending_polls -= 1
                return 400, {"error": "authorization_pending"}
            return 200, self._tokens(refresh="rt-1")
        if grant == "authorization_code":
            digest = hashlib.sha256(form["code_verifier"].encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if form.get("code") != "code-1" or expected != self.challenge:
                return 400, {"error": "invalid_grant", "error_description": "bad code or verifier"}
            return 200, self._tokens(refresh="rt-1")
        if grant == "refresh_token":
            token = form.get("refresh_token")
            if token in self.revoked or token not in self.refresh_tokens:
                return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            return 200, self._tokens()
        return 400, {"error": "unsupported_grant_type"}

    def _tokens(self, refresh: str | None = None) -> dict:
        token = f"at-{len(self.issued) + 1}"
        self.issued.append(token)
        body = {"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer",
                "scope": "https://mail.google.com/"}
        if refresh:
            body["refresh_token"] = refresh
        return body


class XOAuthHandler:
    """An aiosmtpd handler that keeps mail and checks AUTH XOAUTH2 against the provider's tokens."""

    def __init__(self, provider: Provider, user: str) -> None:
        self.provider, self.user = provider, user
        self.logins: list[str] = []
        self.received: list[bytes] = []

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 - aiosmtpd finds mechanisms by this name
        answer = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        fields = dict(part.split("=", 1) for part in answer.split("\x01") if "=" in part)
        token = fields.get("auth", "").removeprefix("Bearer ")
        well_formed = answer == f"user={fields.get('user')}\x01auth=Bearer {token}\x01\x01"
        self.logins.append(token)
        if well_formed and fields.get("user") == self.user and token in self.provider.issued[-1:]:
            return AuthResult(success=True, auth_data=fields["user"])
        status = base64.b64encode(json.dumps({"status": "400", "schemes": "Bearer"}).encode()).decode()
        await server.challenge_auth(status, encode_to_b64=False)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        self.received.append(envelope.original_content)
        return "250 2.0.0 queued"


class XOAuthRelay(Sink):
    """A Sink whose handler demands XOAUTH2."""

    def __init__(self, provider: Provider, user: str) -> None:
        # AUTH on a plain loopback connection (no certificate needed); mail without it gets 530.
        super().__init__(auth_require_tls=False)
        self.handler = XOAuthHandler(provider, user)
