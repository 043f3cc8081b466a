"""The `[[imap]]` config tables: defaults, the documented example, and one problem line per bad value."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mailbridge.config import ConfigError, load_config
from mailbridge.config.imap import ImapAccount, is_loopback

QUEUES = """
[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"

[[queues]]
name = "soporte"
address = "soporte@example.com"
code_prefix = "SOP"
"""
ACCOUNT = """
[[imap]]
name = "m365"
host = "outlook.office365.com"
user = "soporte@example.com"
password = "env:IMAP_PASSWORD"
"""
ENV = {"IMAP_PASSWORD": "app-password-1234"}


def load(tmp_path: Path, tables: str, env: dict[str, str] | None = None):
    path = tmp_path / "mailbridge.toml"
    path.write_text(QUEUES + tables, encoding="utf-8")
    return load_config(path, env=ENV if env is None else env)


def problems(tmp_path: Path, tables: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, tables, env)
    return caught.value.problems


def test_an_account_needs_only_name_host_user_and_password(tmp_path):
    account = load(tmp_path, ACCOUNT).imap[0]
    assert (account.host, account.server_port, account.tls) == ("outlook.office365.com", 993, "implicit")
    assert account.password == "app-password-1234"
    assert "app-password" not in repr(account)
    assert (account.folder, account.queue, account.after_processing) == ("INBOX", "", "move")
    assert (account.processed_folder, account.keyword) == ("mailbridge-processed", "MailbridgeProcessed")
    assert (account.poll_interval, account.idle, account.idle_renew) == (60, True, 1500)
    assert (account.batch_size, account.backlog, account.timeout) == (100, "unseen", 60)


def test_no_imap_tables_means_no_accounts(tmp_path):
    assert load(tmp_path, "").imap == ()


def test_starttls_and_plain_default_to_port_143(tmp_path):
    account = load(tmp_path, ACCOUNT + 'tls = "starttls"\n').imap[0]
    assert account.server_port == 143


def test_several_accounts_may_feed_queues(tmp_path):
    second = ACCOUNT.replace('"m365"', '"gmail"').replace("outlook.office365.com", "imap.gmail.com")
    config = load(tmp_path, ACCOUNT + 'queue = "soporte"\n' + second + 'queue = "dynamics"\n')
    assert [(a.name, a.queue) for a in config.imap] == [("m365", "soporte"), ("gmail", "dynamics")]


def test_since_backlog_gives_its_date(tmp_path):
    account = load(tmp_path, ACCOUNT + 'backlog = "since:2026-03-01"\n').imap[0]
    assert account.backlog_since == date(2026, 3, 1)


@pytest.mark.parametrize(("line", "expected"), [
    ('tls = "ssl"', "imap[0].tls: "),
    ('backlog = "yesterday"', 'imap[0].backlog: must be "all", "unseen", "new" or "since:YYYY-MM-DD"'),
    ('backlog = "since:2026-02-30"', "imap[0].backlog: not a date: '2026-02-30'"),
    ("idle_renew = 1800", "imap[0].idle_renew: "),
    ("batch_size = 0", "imap[0].batch_size: "),
    ('keyword = "two words"', "imap[0].keyword: not an IMAP keyword"),
    ('keyword = "\\\\Seen"', "imap[0].keyword: not an IMAP keyword"),
    ('after_processing = "delete"', "imap[0].after_processing: "),
    ('queue = "ventas"', "imap[0].queue: no queue named 'ventas' (queues: dynamics, soporte)"),
    ('folder = ""', "imap[0].folder: is empty"),
    ("pasword = 'x'", "imap[0].pasword: unknown key (did you mean 'password'?)"),
    ('ca_file = "/nonexistent/ca.pem"', "imap[0]: "),
])
def test_a_bad_value_is_one_line_named_by_its_key(tmp_path, line, expected):
    found = problems(tmp_path, ACCOUNT + line + "\n")
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_an_unset_password_variable_is_one_line(tmp_path):
    assert problems(tmp_path, ACCOUNT, env={}) == ["imap[0].password: environment variable IMAP_PASSWORD is not set"]


def test_oauth2_needs_its_client_and_no_password(tmp_path):
    oauth = ('[[imap]]\nname = "m365"\nhost = "outlook.office365.com"\nuser = "soporte@example.com"\n'
             'auth = "oauth2"\n')
    found = problems(tmp_path, oauth)
    assert len(found) == 1 and found[0].startswith("imap[0]: ")
    assert 'auth = "oauth2" needs oauth2_client_id, oauth2_client_secret, oauth2_tenant (or oauth2_token_url)' in found[0]
    account = load(tmp_path, oauth + 'oauth2_tenant = "contoso.onmicrosoft.com"\noauth2_client_id = "c1"\n'
                                      'oauth2_client_secret = "env:IMAP_PASSWORD"\n').imap[0]
    assert account.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert "app-password" not in repr(account)


def test_a_missing_password_is_named_by_its_key(tmp_path):
    assert problems(tmp_path, '[[imap]]\nname = "x"\nhost = "h"\nuser = "u"\n') == [
        'imap[0].password: required key is missing (or set auth = "oauth2")']


def test_a_required_key_missing_is_named(tmp_path):
    assert problems(tmp_path, '[[imap]]\nname = "x"\nhost = "h"\npassword = "p"\n') == [
        "imap[0].user: required key is missing"]


def test_plain_text_is_refused_off_loopback_unless_allowed(tmp_path):
    found = problems(tmp_path, ACCOUNT + 'tls = "none"\n')
    assert len(found) == 1 and found[0].startswith("imap[0]: ")
    assert 'tls = "none" sends the password in clear to outlook.office365.com' in found[0]
    allowed = load(tmp_path, ACCOUNT + 'tls = "none"\nallow_plaintext = true\n').imap[0]
    assert allowed.server_port == 143


def test_moving_needs_a_different_processed_folder(tmp_path):
    found = problems(tmp_path, ACCOUNT + 'processed_folder = "INBOX"\n')
    assert len(found) == 1 and "processed_folder must differ from folder" in found[0]


def test_two_accounts_with_one_name_are_a_problem(tmp_path):
    assert problems(tmp_path, ACCOUNT + ACCOUNT) == ["imap[1].name: 'm365' is already used by imap[0]"]


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("10.0.0.1", False), ("imap.example.com", False), ("localhost.example.com", False),
])
def test_loopback_hosts(host, expected):
    assert is_loopback(host) is expected


def test_a_config_built_in_code_checks_queue_names_too():
    from mailbridge.config import Config

    with pytest.raises(ValueError, match="imap\\[0\\].queue: no queue named 'ventas'"):
        Config(queues=[{"name": "dynamics", "address": "pomoc-dynamics@example.com", "code_prefix": "DYN"}],
               imap=[ImapAccount(name="a", host="h", user="u", password="p", queue="ventas")])


def test_the_example_config_documents_every_key_with_its_default():
    example = Path(__file__).resolve().parents[1] / "config" / "mailbridge.example.toml"
    text = example.read_text(encoding="utf-8")
    assert load_config(example, env={}).imap == ()
    defaults = ImapAccount(name="x", host="h", user="u", password="p")
    for key, field in ImapAccount.model_fields.items():
        # The password has no default to show: it is required unless auth = "oauth2".
        if field.is_required() or key == "password":
            assert f"#   {key} " in text, key
        else:
            documented = _documented_default(text, key)
            assert documented == _toml_value(getattr(defaults, key)), key


def _documented_default(text: str, key: str) -> str:
    for line in text.splitlines():
        if line.startswith(f"# {key} = "):
            return line.split(" = ", 1)[1]
    raise AssertionError(f"{key} is not documented as '# {key} = <default>'")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f'"{value}"'
