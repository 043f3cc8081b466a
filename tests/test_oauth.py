"""OAuth 2.0 as a user: consent flows against a local token endpoint, XOAUTH2 to a relay that checks it,
refresh before expiry, and a clear line when consent is revoked."""

from __future__ import annotations

import os
import stat
import threading

import httpx
import pytest
from typer.testing import CliRunner

from mailbridge.cli import _register, app
from mailbridge.config import load_config
from mailbridge.oauth import flows, token_file, user_tokens
from mailbridge.oauth.access import ConsentRevoked, NotLoggedIn
from mailbridge.oauth.xoauth2 import xoauth2
from mailbridge.outgoing.transport import TemporaryFailure, transport_for
from tests.oauth_provider import Provider, XOAuthRelay

_register()
USER = "soporte@example.com"

CONFIG = """
[mailbridge]
state_dir = "{state}"

[[queues]]
name = "soporte"
address = "soporte@example.com"
code_prefix = "SOP"
language = "es"

[outbox]
relay_host = "127.0.0.1"
relay_port = {port}
relay_tls = "none"
relay_user = "soporte@example.com"
relay_auth = "xoauth2"
relay_oauth = "gmail"

[[oauth]]
name = "gmail"
client_id = "client-1.apps.example"
client_secret = "file:client-secret"
auth_url = "{url}/auth"
token_url = "{url}/token"
device_url = "{url}/device"
flow = "{flow}"
"""


@pytest.fixture
def provider():
    server = Provider()
    yield server
    server.close()


def _config_file(tmp_path, provider, *, port=1, flow="installed-app"):
    (tmp_path / "client-secret").write_text("s3cr3t-of-the-app\n", encoding="utf-8")
    path = tmp_path / "mailbridge.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state", port=port, url=provider.url, flow=flow), encoding="utf-8")
    return path


def _login(path, *args):
    return CliRunner().invoke(app, ["oauth", "login", "gmail", "--config", str(path), *args])


def test_xoauth2_string():
    assert xoauth2("soporte@example.com", "ya29.tok") == "user=soporte@example.com\x01auth=Bearer ya29.tok\x01\x01"


def test_device_code_login_keeps_the_refresh_token_in_a_private_file(tmp_path, provider):
    path = _config_file(tmp_path, provider, flow="device-code")
    before = CliRunner().invoke(app, ["check-config", "--config", str(path)]).stdout
    assert "oauth gmail: other, no consent yet: `mailbridge oauth login gmail`" in before
    result = _login(path)
    assert result.exit_code == 0, result.output
    assert f"open {provider.url}/verify and enter the code WDJB-MJHT" in result.output
    stored = tmp_path / "state" / "oauth" / "gmail.json"
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert token_file.read(stored).refresh_token == "rt-1"
    assert provider.grants.count("urn:ietf:params:oauth:grant-type:device_code") == 3  # two "pending" first
    after = CliRunner().invoke(app, ["check-config", "--config", str(path)]).stdout
    assert f"oauth gmail: other, consent kept in {stored}" in after


def test_installed_app_login_receives_the_redirect_on_loopback_with_pkce(tmp_path, provider):
    config = load_config(_config_file(tmp_path, provider), env={})
    said: list[str] = []
    result: list = []
    thread = threading.Thread(target=lambda: result.append(flows.installed_app(config.oauth[0], said.append)))
    thread.start()
    while not said:
        thread.join(0.05)
    consent_url = said[0].splitlines()[-1]
    assert "code_challenge_method=S256" in consent_url and "access_type=offline" in consent_url
    # The "browser": the provider's page redirects it to our loopback port.
    assert httpx.get(consent_url, follow_redirects=True, timeout=10).text.startswith("mailbridge: done")
    thread.join(10)
    assert result[0].refresh_token == "rt-1" and result[0].access_token == "at-1"


def test_the_relay_gets_xoauth2_and_tokens_are_refreshed_before_they_expire(tmp_path, provider):
    relay = XOAuthRelay(provider, USER).start()
    try:
        path = _config_file(tmp_path, provider, port=relay.port)
        config = load_config(path, env={})
        token_file.write(config.oauth_dir / "gmail.json", token_file.StoredTokens("rt-1"))
        transport = transport_for(config)
        transport.send(USER, "cliente@empresa.co", b"Subject: uno\r\n\r\nhola\r\n")
        transport.send(USER, "cliente@empresa.co", b"Subject: dos\r\n\r\nhola\r\n")
        assert relay.handler.logins == ["at-1", "at-1"]  # one token, reused while valid
        tokens = user_tokens(config, "gmail")
        # Within five minutes of its expiry a token is renewed before use.
        stored = token_file.read(tokens.path)
        token_file.write(tokens.path, token_file.StoredTokens(stored.refresh_token, stored.access_token,
                                                              expires_at=stored.expires_at - 3600 + 200))
        transport.send(USER, "cliente@empresa.co", b"Subject: tres\r\n\r\nhola\r\n")
        assert relay.handler.logins[-1] == "at-2" and len(relay.handler.received) == 3
    finally:
        relay.stop()


def test_a_token_the_relay_refuses_is_dropped_and_the_next_try_gets_a_new_one(tmp_path, provider):
    relay = XOAuthRelay(provider, USER).start()
    try:
        config = load_config(_config_file(tmp_path, provider, port=relay.port), env={})
        token_file.write(config.oauth_dir / "gmail.json",
                         token_file.StoredTokens("rt-1", "stale-token", expires_at=4_000_000_000))
        transport = transport_for(config)
        with pytest.raises(TemporaryFailure, match="535"):
            transport.send(USER, "cliente@empresa.co", b"Subject: uno\r\n\r\nhola\r\n")
        transport.send(USER, "cliente@empresa.co", b"Subject: uno\r\n\r\nhola\r\n")
        assert relay.handler.logins == ["stale-token", "at-1"]
    finally:
        relay.stop()


def test_revoked_consent_is_one_clear_line_and_the_mail_waits(tmp_path, provider):
    relay = XOAuthRelay(provider, USER).start()
    try:
        config = load_config(_config_file(tmp_path, provider, port=relay.port), env={})
        token_file.write(config.oauth_dir / "gmail.json", token_file.StoredTokens("rt-1"))
        provider.revoked.add("rt-1")
        with pytest.raises(ConsentRevoked) as raised:
            user_tokens(config, "gmail").access_token()
        assert str(raised.value) == (
            "OAuth gmail: the provider refused the refresh token (Token has been expired or revoked.): consent "
            "was revoked, has expired or the password changed; run `mailbridge oauth login gmail` again")
        # A temporary failure: the mail stays queued until consent is given again.
        with pytest.raises(TemporaryFailure, match="run `mailbridge oauth login gmail` again"):
            transport_for(config).send(USER, "cliente@empresa.co", b"Subject: x\r\n\r\nx\r\n")
        assert relay.handler.received == []
    finally:
        relay.stop()


def test_without_a_login_the_error_says_to_run_it(tmp_path, provider):
    config = load_config(_config_file(tmp_path, provider), env={})
    with pytest.raises(NotLoggedIn, match="run `mailbridge oauth login gmail` once"):
        user_tokens(config, "gmail").access_token()


def test_an_account_naming_an_unknown_oauth_table_is_a_config_problem(tmp_path, provider):
    path = _config_file(tmp_path, provider)
    path.write_text(path.read_text(encoding="utf-8").replace('relay_oauth = "gmail"', 'relay_oauth = "gmial"'),
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["check-config", "--config", str(path)])
    assert result.exit_code == 1
    assert "outbox.relay_oauth: no [[oauth]] table named 'gmial' (oauth: gmail)" in result.output
