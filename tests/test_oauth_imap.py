"""Gmail-style IMAP: XOAUTH2 with a user's refresh token, against a real Dovecot that asks a local endpoint."""

from __future__ import annotations

import pytest
from dovecot import Dovecot, MailboxClient, imap_table
from serve_support import count, message, write_config

from mailbridge.config import load_config
from mailbridge.oauth import token_file
from mailbridge.sources.imap import Poller
from mailbridge.sources.imap_problem import ImapProblem
from mailbridge.store.models import RawMessage
from tests.oauth_provider import Provider

USER = "soporte@example.com"


@pytest.fixture
def provider(dovecot):
    server = Provider(user=USER)
    yield server
    server.close()


@pytest.fixture
def oauth_dovecot(provider):
    server = Dovecot(introspection_url=f"{provider.url}/introspect").start()
    yield server
    server.close()


@pytest.fixture
def database(tmp_path, _sqlite_template):
    import shutil

    from mailbridge.store.db import open_database

    shutil.copyfile(_sqlite_template, tmp_path / "mailbridge.sqlite3")
    db = open_database(f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}")
    yield db
    db.dispose()


def configure(tmp_path, db, server, provider):
    path = write_config(tmp_path, database_url=db.url)
    with path.open("a", encoding="utf-8") as config:
        config.write(imap_table(server, USER, name="gmail-soporte", auth="oauth2-user", password="", oauth="gmail"))
        config.write(f'\n[[oauth]]\nname = "gmail"\nclient_id = "client-1"\ntoken_url = "{provider.url}/token"\n'
                     f'auth_url = "{provider.url}/auth"\n')
    config = load_config(path, env={})
    return config


def test_a_users_refresh_token_logs_in_to_imap_and_the_access_token_is_reused(tmp_path, database, oauth_dovecot,
                                                                               provider):
    config = configure(tmp_path, database, oauth_dovecot, provider)
    token_file.write(config.oauth_dir / "gmail.json", token_file.StoredTokens("rt-1"))
    mailbox = MailboxClient(oauth_dovecot, USER)
    mailbox.append([message("Przez Gmail", to=USER)])
    poller = Poller(config.imap[0], db=database, config=config)
    assert poller.drain() == 1
    mailbox.append([message("Drugi", to=USER)])
    assert poller.drain() == 1
    assert provider.grants == ["refresh_token"] and count(database, RawMessage) == 2
    mailbox.close()


def test_revoked_consent_is_a_login_problem_naming_the_command(tmp_path, database, oauth_dovecot, provider):
    config = configure(tmp_path, database, oauth_dovecot, provider)
    token_file.write(config.oauth_dir / "gmail.json", token_file.StoredTokens("rt-1"))
    provider.revoked.add("rt-1")
    with pytest.raises(ImapProblem) as caught:
        Poller(config.imap[0], db=database, config=config).drain()
    assert caught.value.kind == "login"
    assert str(caught.value).startswith("IMAP login failed for gmail-soporte: OAuth gmail: the provider refused "
                                        "the refresh token")
    assert str(caught.value).endswith("run `mailbridge oauth login gmail` again")


def test_imap_check_logs_in_as_the_user(tmp_path, database, oauth_dovecot, provider):
    from typer.testing import CliRunner

    from mailbridge.cli import _register, app

    _register()
    config = configure(tmp_path, database, oauth_dovecot, provider)
    token_file.write(config.oauth_dir / "gmail.json", token_file.StoredTokens("rt-1"))
    result = CliRunner().invoke(app, ["imap", "check", "--config", str(config.source)])
    assert result.exit_code == 0, result.output
    assert f"(no TLS, OAuth 2.0 as {USER})" in result.stdout.splitlines()[0]
