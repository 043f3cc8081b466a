"""Asking a user's consent once: the installed-app flow (RFC 8252) and the device-code flow (RFC 8628).

Installed-app: a loopback HTTP server on 127.0.0.1 receives the provider's redirect; the
consent URL (with PKCE and a random state) is printed for a browser on this machine (or one
reaching it through `ssh -L`). Device-code: a short code is printed, to be typed at the
provider's page on any device, while this side polls the token endpoint. Both end with a
refresh token, or an OAuthError saying what went wrong (consent refused, code expired).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

from mailbridge.config.oauth import OAuthClient
from mailbridge.oauth.access import OAuthError, lifetime, one_line, post_form, refusal
from mailbridge.oauth.token_file import StoredTokens

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CONSENT_TIMEOUT_SECONDS = 600


def device_code(client: OAuthClient, say: Callable[[str], None], *, transport: httpx.BaseTransport | None = None,
                sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> StoredTokens:
    """Print a code to enter at the provider's page, then wait for the user's consent."""
    start, status = post_form(client, "device_url", {"client_id": client.client_id, "scope": client.scopes},
                              transport)
    if status != 200 or "device_code" not in start:
        raise refusal(client, start, status)
    page = start.get("verification_uri") or start.get("verification_url")
    say(f"On any device, open {page} and enter the code {start['user_code']} "
        f"(within {int(start.get('expires_in', 900)) // 60} minutes).")
    form = {"grant_type": DEVICE_GRANT, "device_code": start["device_code"], "client_id": client.client_id}
    if client.client_secret:
        form["client_secret"] = client.client_secret
    interval = float(start.get("interval", 5))
    deadline = clock() + float(start.get("expires_in", 900))
    while clock() < deadline:
        sleep(interval)
        body, status = post_form(client, "token_url", form, transport)
        error = body.get("error")
        if status == 200 and "access_token" in body:
            return _tokens(client, body, clock())
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if error in ("access_denied", "authorization_declined"):
            raise OAuthError(f"OAuth {client.name}: consent was refused at the provider's page")
        if error in ("expired_token", "code_expired"):
            break
        raise refusal(client, body, status)
    raise OAuthError(f"OAuth {client.name}: the code expired before consent was given; run the login again")


def installed_app(client: OAuthClient, say: Callable[[str], None], *,
                  transport: httpx.BaseTransport | None = None, timeout: float = CONSENT_TIMEOUT_SECONDS,
                  clock: Callable[[], float] = time.time) -> StoredTokens:
    """Print the consent URL, receive the redirect on a loopback port, exchange the code."""
    verifier = secrets.token_urlsafe(64)
    state = secrets.token_urlsafe(16)
    receiver = _Receiver()
    redirect = f"http://127.0.0.1:{receiver.port}/"
    try:
        query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect,
                 "scope": client.scopes, "state": state, "code_challenge": _challenge(verifier),
                 "code_challenge_method": "S256",
                 # Google gives a refresh token only for offline access, and again only with a new consent.
                 "access_type": "offline", "prompt": "consent"}
        say(f"Open this address in a browser on this machine (from elsewhere: ssh -L {receiver.port}:127.0.0.1:"
            f"{receiver.port} to it first) and give consent:\n{client.endpoint('auth_url')}?{urlencode(query)}")
        answer = receiver.wait(timeout)
    finally:
        receiver.close()
    if answer is None:
        raise OAuthError(f"OAuth {client.name}: no answer from the browser within {int(timeout)} s")
    if answer.get("state") != state:
        raise OAuthError(f"OAuth {client.name}: the answer does not carry our state: ignored")
    if "code" not in answer:
        reason = answer.get("error_description") or answer.get("error") or "no code"
        raise OAuthError(f"OAuth {client.name}: consent was not given ({one_line(reason)})")
    form = {"grant_type": "authorization_code", "code": answer["code"], "redirect_uri": redirect,
            "client_id": client.client_id, "code_verifier": verifier}
    if client.client_secret:
        form["client_secret"] = client.client_secret
    body, status = post_form(client, "token_url", form, transport)
    if status != 200 or "access_token" not in body:
        raise refusal(client, body, status)
    return _tokens(client, body, clock())


def _tokens(client: OAuthClient, body: dict, now: float) -> StoredTokens:
    if not body.get("refresh_token"):
        raise OAuthError(f"OAuth {client.name}: the provider gave no refresh token (ask for offline access: "
                         "Microsoft's scope needs offline_access)")
    return StoredTokens(body["refresh_token"], body["access_token"], now + lifetime(body), body.get("scope", ""))


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Receiver:
    """A one-request HTTP server on a free loopback port, for the provider's redirect."""

    def __init__(self) -> None:
        self._answer: dict[str, str] | None = None
        self._got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                query = parse_qs(urlparse(self.path).query)
                receiver._answer = {key: values[0] for key, values in query.items()}
                receiver._got.set()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write("mailbridge: done, you may close this page.\n".encode())

            def log_message(self, *args: object) -> None:
                pass  # the CLI says what happened; no access log on the terminal

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-redirect", daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> dict[str, str] | None:
        return self._answer if self._got.wait(timeout) else None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
