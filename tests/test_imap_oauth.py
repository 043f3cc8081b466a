"""OAuth 2.0 for IMAP (Microsoft 365's only way in): a token from a client-credentials endpoint, XOAUTH2 login.

A small local HTTP server plays Microsoft Entra's token endpoint and the introspection
endpoint Dovecot asks whether a token is valid; the IMAP side is a real Dovecot.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from dovecot import Dovecot, MailboxClient, imap_table
from serve_support import count, message, wait_until, write_config

from mailbridge.config import load_config
from mailbridge.sources import imap_oauth
from mailbridge.sources.imap import Poller
from mailbridge.sources.imap_problem import ImapProblem
from mailbridge.store.models import RawMessage

SECRET = "app-secret-7Hq2x"


class IdentityProvider(ThreadingHTTPServer):
    """/token issues tokens for the right client secret; /introspect says whose a token is."""

    def __init__(self, user: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.user = user
        self.issued: list[str] = []
        self.revoked: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: IdentityProvider

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        if self.path == "/token":
            self._token(form)
        else:
            token = form.get("token", "")
            active = token in self.server.issued and token not in self.server.revoked
            self._reply(200, {"active": active, "username": self.server.user} if active else {"active": False})

    def _token(self, form: dict[str, str]) -> None:
        if form.get("client_secret") != SECRET or form.get("grant_type") != "client_credentials":
            self._reply(401, {"error": "invalid_client", "error_description":
                              "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1f2e\r\n"})
            return
        token = f"token-{len(self.server.issued) + 1}"
        self.server.issued.append(token)
        self._reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3599})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider(dovecot):
    server = IdentityProvider(user="pomoc@example.com")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def oauth_dovecot(provider):
    server = Dovecot(introspection_url=f"{provider.url}/introspect").start()
    yield server
    server.close()


@pytest.fixture
def database(tmp_path, _sqlite_template):
    """SQLite only: these tests are about logging in, not storage (which runs on both elsewhere)."""
    import shutil

    from mailbridge.store.db import open_database

    shutil.copyfile(_sqlite_template, tmp_path / "mailbridge.sqlite3")
    db = open_database(f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}")
    yield db
    db.dispose()


@pytest.fixture(autouse=True)
def _no_cached_tokens():
    imap_oauth._cache.clear()
    yield
    imap_oauth._cache.clear()


def configure(tmp_path, db, server: Dovecot, provider: IdentityProvider, secret: str = SECRET):
    path = write_config(tmp_path, database_url=db.url)
    with path.open("a", encoding="utf-8") as config:
        config.write(imap_table(server, provider.user, name="pomoc-m365", auth="oauth2", password="",
                                oauth2_token_url=f"{provider.url}/token", oauth2_client_id="c0ffee",
                                oauth2_client_secret=secret))
    return load_config(path, env={})


def test_a_token_from_the_endpoint_logs_in_and_is_reused(tmp_path, database, oauth_dovecot, provider):
    config = configure(tmp_path, database, oauth_dovecot, provider)
    mailbox = MailboxClient(oauth_dovecot, provider.user)
    mailbox.append([message("Przez OAuth")])
    poller = Poller(config.imap[0], db=database, config=config)
    assert poller.drain() == 1
    mailbox.append([message("Drugi raz")])
    assert poller.drain() == 1
    assert provider.issued == ["token-1"]  # the second login reused the token
    assert count(database, RawMessage) == 2
    mailbox.close()


def test_a_wrong_client_secret_is_a_clear_login_problem(tmp_path, database, oauth_dovecot, provider):
    config = configure(tmp_path, database, oauth_dovecot, provider, secret="not-the-secret")
    with pytest.raises(ImapProblem) as caught:
        Poller(config.imap[0], db=database, config=config).drain()
    assert caught.value.kind == "login"
    assert str(caught.value) == ("IMAP login failed for pomoc-m365: the token endpoint refused the app's "
                                 "credentials: AADSTS7000215: Invalid client secret provided.")


def test_a_revoked_token_is_dropped_and_a_new_one_fetched(tmp_path, database, oauth_dovecot, provider, caplog):
    config = configure(tmp_path, database, oauth_dovecot, provider)
    poller = Poller(config.imap[0], db=database, config=config, draw=lambda: 0.0)
    poller.drain()
    provider.revoked.add("token-1")
    with pytest.raises(ImapProblem) as caught:
        poller.drain()
    assert str(caught.value).startswith("IMAP login failed for pomoc-m365: the server refused the OAuth 2.0 "
                                        "token for pomoc@example.com")
    assert poller.drain() == 0 and provider.issued == ["token-1", "token-2"]


def test_an_unreachable_token_endpoint_is_retried_like_a_connection_problem(tmp_path, database, oauth_dovecot,
                                                                           provider, caplog):
    from dovecot import free_port

    config = configure(tmp_path, database, oauth_dovecot, provider)
    account = config.imap[0].model_copy(update={"oauth2_token_url": f"http://127.0.0.1:{free_port()}/token"})
    poller = Poller(account, db=database, config=config, draw=lambda: 0.0)
    poller.backoff_cap_seconds = 0.05
    caplog.set_level(logging.DEBUG, logger="mailbridge.sources.imap")
    poller.start()
    wait_until(lambda: sum("retrying" in r.getMessage() for r in caplog.records) >= 3, what="retries")
    poller.stop()
    assert poller.join(5)
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.startswith("IMAP pomoc-m365: cannot reach the OAuth 2.0 token endpoint 127.0.0.1: ")


def test_imap_check_logs_in_with_oauth(tmp_path, database, oauth_dovecot, provider):
    from typer.testing import CliRunner

    from mailbridge.cli import _register, app

    _register()
    configure(tmp_path, database, oauth_dovecot, provider)
    result = CliRunner().invoke(app, ["imap", "check", "--config", str(tmp_path / "mailbridge.toml")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"pomoc-m365: pomoc@example.com at 127.0.0.1:{oauth_dovecot.port} "
                                    "(no TLS, OAuth 2.0)\n")
