"""`mailbridge imap check` against a real Dovecot: a good account, a wrong password, a missing folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dovecot import MailboxClient, imap_table
from serve_support import message, write_config
from typer.testing import CliRunner

from mailbridge.cli import _register, app

_register()

ROOT = Path(__file__).resolve().parents[1]


def config_file(tmp_path: Path, *tables: str) -> Path:
    path = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    with path.open("a", encoding="utf-8") as file:
        file.write("".join(tables))
    return path


def check(path: Path):
    return CliRunner().invoke(app, ["imap", "check", "--config", str(path)])


def test_a_good_account_prints_the_folder_and_what_serve_would_do(tmp_path, dovecot):
    user = dovecot.add_user()
    mailbox = MailboxClient(dovecot, user)
    mailbox.append([message("Przeczytana")], flags=(b"\\Seen",))
    mailbox.append([message("Nowa 1"), message("Nowa 2")])
    mailbox.close()
    result = check(config_file(tmp_path, imap_table(dovecot, user, backlog="unseen")))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"support: {user} at 127.0.0.1:{dovecot.port} (no TLS)",
        "  server: IDLE yes, MOVE yes, UIDPLUS yes",
        f"  folder INBOX: 3 messages, 2 unseen, UIDVALIDITY {_uidvalidity(dovecot, user)}",
        "  after processing: move to mailbridge-processed (will be created at the first start) with MOVE",
        "  backlog 'unseen': a first start takes 2 of 3 messages",
    ]
    assert result.stderr == ""


def test_nothing_is_changed_on_the_server(tmp_path, dovecot):
    user = dovecot.add_user()
    mailbox = MailboxClient(dovecot, user)
    mailbox.append([message("Nie ruszać")])
    assert check(config_file(tmp_path, imap_table(dovecot, user))).exit_code == 0
    assert not mailbox.client.folder_exists("mailbridge-processed")
    assert mailbox.flags("INBOX") == {1: set()}
    mailbox.close()


def test_a_wrong_password_and_a_missing_folder_are_one_line_each_and_exit_1(tmp_path, own_dovecot):
    good, bad = own_dovecot.add_user(), own_dovecot.add_user()
    # The failing login comes last: Dovecot delays every later login from the same address.
    path = config_file(
        tmp_path,
        imap_table(own_dovecot, good, name="pomoc", folder="Zgłoszenia"),
        imap_table(own_dovecot, bad, name="soporte", password="wrong-password"),
    )
    result = check(path)
    assert result.exit_code == 1
    problems = result.stderr.splitlines()
    assert len(problems) == 2, problems
    assert problems[0].startswith("IMAP pomoc: no folder 'Zgłoszenia' (folders: INBOX")
    assert problems[1].startswith("IMAP login failed for soporte: check user/password (")
    assert "Traceback" not in result.output


def test_an_unreachable_server_is_one_line(tmp_path, dovecot):
    from dovecot import free_port

    port = free_port()
    result = check(config_file(tmp_path, imap_table(dovecot, "x@example.com", port=port)))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"IMAP support: cannot connect to 127.0.0.1:{port}: Connection refused"]


def test_flag_mode_reports_the_keyword(tmp_path, dovecot):
    user = dovecot.add_user()
    result = check(config_file(tmp_path, imap_table(dovecot, user, after_processing="flag")))
    assert result.exit_code == 0, result.output
    assert "  after processing: flag \\Seen and MailbridgeProcessed" in result.stdout.splitlines()


def test_without_accounts_there_is_nothing_to_check(tmp_path):
    result = check(config_file(tmp_path))
    assert (result.exit_code, result.stdout) == (0, "no [[imap]] accounts in the config: nothing to check\n")


def test_the_installed_command_runs(tmp_path, dovecot):
    user = dovecot.add_user()
    path = config_file(tmp_path, imap_table(dovecot, user))
    done = subprocess.run([sys.executable, "-m", "mailbridge", "imap", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"support: {user} at 127.0.0.1:{dovecot.port}")


def _uidvalidity(dovecot, user: str) -> int:
    mailbox = MailboxClient(dovecot, user)
    try:
        return mailbox.uidvalidity("INBOX")
    finally:
        mailbox.close()
