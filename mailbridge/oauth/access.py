"""Access tokens from a stored refresh token, renewed before they expire.

    OAuthError            one line for the operator: what failed and what to do
    ├── NotLoggedIn       no refresh token yet: run `mailbridge oauth login NAME`
    └── ConsentRevoked    the provider refused the refresh token (revoked, expired, password changed)
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from mailbridge.config.models import Config
from mailbridge.config.oauth import OAuthClient
from mailbridge.errors import MailbridgeError
from mailbridge.oauth import token_file
from mailbridge.oauth.token_file import StoredTokens

# Renew this long before the expiry the provider announced (Google and Microsoft: 1 hour).
EXPIRY_MARGIN_SECONDS = 300
DEFAULT_LIFETIME_SECONDS = 600
TIMEOUT_SECONDS = 30


class OAuthError(MailbridgeError):
    """Getting a token failed; the message is one line naming the [[oauth]] table."""


class NotLoggedIn(OAuthError):
    """No refresh token is stored for this [[oauth]] table."""


class ConsentRevoked(OAuthError):
    """The provider refused the refresh token: consent must be given again."""


class UserTokens:
    """The tokens of one [[oauth]] table: `access_token()` is always one valid for a while."""

    def __init__(self, client: OAuthClient, path: Path, *, transport: httpx.BaseTransport | None = None) -> None:
        self.client, self.path, self.transport = client, path, transport
        self._lock = threading.Lock()
        self.refreshes = 0

    def access_token(self, *, now: float | None = None) -> str:
        now = time.time() if now is None else now
        with self._lock:
            stored = self._stored()
            if stored.access_token and now < stored.expires_at - EXPIRY_MARGIN_SECONDS:
                return stored.access_token
            renewed = self._refresh(stored, now)
            token_file.write(self.path, renewed)
            return renewed.access_token

    def forget_access_token(self) -> None:
        """The server refused the access token: the next call asks for a new one."""
        with self._lock:
            stored = self._stored()
            token_file.write(self.path, StoredTokens(stored.refresh_token, scope=stored.scope))

    def _stored(self) -> StoredTokens:
        try:
            stored = token_file.read(self.path)
        except (OSError, ValueError) as exc:
            raise OAuthError(f"OAuth {self.client.name}: cannot read {self.path}: {exc}") from None
        if stored is None:
            raise NotLoggedIn(f"OAuth {self.client.name}: no refresh token in {self.path}: run "
                              f"`mailbridge oauth login {self.client.name}` once (as the service's user)")
        return stored

    def _refresh(self, stored: StoredTokens, now: float) -> StoredTokens:
        form = {"grant_type": "refresh_token", "refresh_token": stored.refresh_token,
                "client_id": self.client.client_id}
        if self.client.client_secret:
            form["client_secret"] = self.client.client_secret
        body, status = post_form(self.client, "token_url", form, self.transport)
        self.refreshes += 1
        if status != 200 or not isinstance(body.get("access_token"), str):
            raise refusal(self.client, body, status)
        # Microsoft hands out a new refresh token with each renewal; Google keeps the old one.
        return StoredTokens(body.get("refresh_token") or stored.refresh_token, body["access_token"],
                            now + lifetime(body), body.get("scope", stored.scope))


def refusal(client: OAuthClient, body: dict, status: int) -> OAuthError:
    """The error for a token endpoint's refusal, saying what to do about it."""
    reason = one_line(str(body.get("error_description") or body.get("error") or f"HTTP {status}"))
    if body.get("error") == "invalid_grant":
        return ConsentRevoked(f"OAuth {client.name}: the provider refused the refresh token ({reason}): consent "
                              f"was revoked, has expired or the password changed; run "
                              f"`mailbridge oauth login {client.name}` again")
    return OAuthError(f"OAuth {client.name}: the token endpoint refused: {reason}")


def post_form(client: OAuthClient, endpoint: str, form: dict, transport: httpx.BaseTransport | None) -> tuple[dict, int]:
    """POST a form to one of the client's endpoints; (JSON body, status), or OAuthError when unreachable."""
    url = client.endpoint(endpoint)
    try:
        with httpx.Client(transport=transport, timeout=TIMEOUT_SECONDS) as http:
            response = http.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise OAuthError(f"OAuth {client.name}: cannot reach {httpx.URL(url).host}: "
                         f"{one_line(str(exc) or type(exc).__name__)}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    return (body if isinstance(body, dict) else {}), response.status_code


def lifetime(body: dict) -> int:
    value = body.get("expires_in")
    return int(value) if str(value).isdigit() else DEFAULT_LIFETIME_SECONDS


def one_line(text: str) -> str:
    return " ".join(text.strip().splitlines()[0].split())[:300] if text.strip() else text


_shared: dict[Path, UserTokens] = {}
_shared_lock = threading.Lock()


def user_tokens(config: Config, name: str) -> UserTokens:
    """The tokens of the [[oauth]] table `name`, one object per process (shared by every login)."""
    client = config.oauth_client(name)
    if client is None:
        raise OAuthError(f"no [[oauth]] table named {name!r}")
    path = config.oauth_dir / f"{name}.json"
    with _shared_lock:
        found = _shared.get(path)
        if found is None or found.client != client:
            found = _shared[path] = UserTokens(client, path)
        return found
