"""The `[listener]` config section: its defaults and one problem line per bad value."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from mailbridge.config import ConfigError, load_config
from mailbridge.config.listener import ListenerSection

QUEUE = """
[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"
"""
GOOD_PASSWORD = "kQ3v9Zr2Lw8Xb5Tn"


def load(tmp_path: Path, listener: str, env: dict[str, str] | None = None):
    path = tmp_path / "mailbridge.toml"
    path.write_text(f"[listener]\n{listener}\n{QUEUE}", encoding="utf-8")
    return load_config(path, env=env or {})


def problems(tmp_path: Path, listener: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, listener, env)
    return caught.value.problems


def test_defaults_are_loopback_smtp_without_tls_or_auth(tmp_path):
    listener = load(tmp_path, "").listener
    assert (listener.protocol, listener.host, listener.port) == ("smtp", "127.0.0.1", 2525)
    assert listener.max_message_size == 25 * 1024 * 1024
    assert listener.max_recipients == 50
    assert (listener.tls_cert, listener.users, listener.auth_require_tls) == ("", {}, True)
    assert listener.trusted_networks == (
        ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def test_the_example_config_documents_the_defaults():
    example = Path(__file__).resolve().parents[1] / "config" / "mailbridge.example.toml"
    assert load_config(example, env={}).listener == ListenerSection()


@pytest.mark.parametrize(("line", "expected"), [
    ('protocol = "esmtp"', "listener.protocol: "),
    ("port = 70000", "listener.port: "),
    ('port = "2525"', "listener.port: must be a whole number"),
    ("max_recipients = 0", "listener.max_recipients: "),
    ("max_message_size = 10", "listener.max_message_size: "),
    ('trusted_networks = ["10.0.0.300/8"]', "listener.trusted_networks[0]: "),
    ('log_level = "loud"', "listener.log_level: "),
    ('tls_cert = "/nonexistent/cert.pem"', "listener.tls_cert: no such file: /nonexistent/cert.pem"),
    ("requiretls = true", "listener.requiretls: unknown key (did you mean 'require_tls'?)"),
])
def test_a_bad_value_is_one_line_named_by_its_key(tmp_path, line, expected):
    lines = problems(tmp_path, line)
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines


def test_tls_cert_and_key_go_together(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    assert problems(tmp_path, f'tls_cert = "{cert}"') == [
        "listener: tls_cert and tls_key go together: set both or neither"]


def test_require_tls_needs_a_certificate(tmp_path):
    assert problems(tmp_path, "require_tls = true") == ["listener: require_tls needs tls_cert and tls_key"]


def test_users_without_tls_cannot_log_in_unless_allowed_on_plain(tmp_path):
    users = f'users = {{ postfix = "{GOOD_PASSWORD}" }}'
    assert problems(tmp_path, users)[0].startswith("listener: users can only log in over TLS")
    listener = load(tmp_path, f"{users}\nauth_require_tls = false").listener
    assert listener.users == {"postfix": GOOD_PASSWORD}


def test_a_weak_user_password_is_refused(tmp_path):
    lines = problems(tmp_path, 'auth_require_tls = false\nusers = { postfix = "change-me" }')
    assert lines == [
        "listener.users.postfix: is a placeholder; "
        "set a random value (e.g. `openssl rand -hex 32`)"]


def test_a_user_password_from_an_unset_variable_is_one_line(tmp_path):
    lines = problems(tmp_path, 'auth_require_tls = false\nusers = { postfix = "env:SMTP_PW" }')
    assert lines == ["listener.users.postfix: environment variable SMTP_PW is not set"]


def test_a_user_password_comes_from_the_environment(tmp_path):
    listener = load(tmp_path, 'auth_require_tls = false\nusers = { postfix = "env:SMTP_PW" }',
                    env={"SMTP_PW": GOOD_PASSWORD}).listener
    assert listener.users == {"postfix": GOOD_PASSWORD}
