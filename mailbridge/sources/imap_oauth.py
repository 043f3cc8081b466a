"""OAuth 2.0 access tokens for IMAP (client credentials flow), kept until shortly before they expire.

Microsoft 365 refuses passwords over IMAP; an app registered in Microsoft Entra with the
IMAP.AccessAsApp permission asks the token endpoint for a token with its client id and secret,
and logs in with XOAUTH2 as the mailbox user. Tokens live about an hour, so one is reused by
every reconnect of the account until five minutes before it expires.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx

from mailbridge.config.imap import ImapAccount
from mailbridge.sources.imap_problem import ImapProblem

# Renew a token this long before the expiry the endpoint announced.
EXPIRY_MARGIN_SECONDS = 300
# When the endpoint names no lifetime, assume a short one.
DEFAULT_LIFETIME_SECONDS = 600


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float


_cache: dict[tuple[str, str, str], _Token] = {}
_lock = threading.Lock()


def access_token(account: ImapAccount, *, transport: httpx.BaseTransport | None = None,
                 now: float | None = None) -> str:
    """A valid token for the account's app, from the cache or fresh from the token endpoint."""
    now = time.time() if now is None else now
    key = (account.token_url, account.oauth2_client_id, account.oauth2_scope)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and now < cached.expires_at - EXPIRY_MARGIN_SECONDS:
            return cached.value
        token = _request(account, transport, now)
        _cache[key] = token
        return token.value


def forget(account: ImapAccount) -> None:
    """Drop the account's cached token (the server refused it: it may have been revoked)."""
    with _lock:
        _cache.pop((account.token_url, account.oauth2_client_id, account.oauth2_scope), None)


def _request(account: ImapAccount, transport: httpx.BaseTransport | None, now: float) -> _Token:
    form = {"grant_type": "client_credentials", "client_id": account.oauth2_client_id,
            "client_secret": account.oauth2_client_secret, "scope": account.oauth2_scope}
    try:
        with httpx.Client(transport=transport, timeout=account.timeout) as client:
            response = client.post(account.token_url, data=form)
    except httpx.HTTPError as exc:
        raise ImapProblem("connect", f"IMAP {account.name}: cannot reach the OAuth 2.0 token endpoint "
                                     f"{_host(account.token_url)}: {_one_line(str(exc) or type(exc).__name__)}") from None
    body = _json(response)
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        raise ImapProblem("login", f"IMAP login failed for {account.name}: the token endpoint refused "
                                   f"the app's credentials: {_one_line(str(reason))}")
    lifetime = body.get("expires_in")
    lifetime = int(lifetime) if str(lifetime).isdigit() else DEFAULT_LIFETIME_SECONDS
    return _Token(body["access_token"], now + lifetime)


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _host(url: str) -> str:
    return httpx.URL(url).host or url


def _one_line(text: str) -> str:
    # Microsoft's descriptions run over several lines with trace ids; the first says what failed.
    return " ".join(text.strip().splitlines()[0].split())[:300] if text.strip() else text
