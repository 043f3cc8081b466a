"""The listener against a hostile client: envelope syntax, connection floods, idle sockets, password guessing, token leaks."""

from __future__ import annotations

import logging
import smtplib
import socket
import time

import pytest
from serve_support import ServerThread, count, make_config, message, wait_until

from mailbridge.logs import mask_tokens
from mailbridge.sources.smtp_guard import AuthThrottle, ConnectionLimits, check_path
from mailbridge.store.db import open_database
from mailbridge.store.models import RawMessage

PASSWORD = "kT9#wq2LmZ8vR4xN"


@pytest.fixture
def sqlite_db(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}")
    yield db
    db.dispose()


@pytest.fixture
def serve(tmp_path, sqlite_db):
    servers = []

    def start(listener: str = "") -> ServerThread:
        servers.append(ServerThread(make_config(tmp_path, sqlite_db, f"port = 0\n{listener}"), sqlite_db).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    return sock


def greeting(sock: socket.socket) -> bytes:
    return sock.recv(1024)


def fresh_greeting(port: int) -> bytes:
    with connect(port) as sock:
        return greeting(sock)


@pytest.mark.parametrize("command", [
    "MAIL FROM:<klient\x00@example.org>",
    "MAIL FROM:<klient@exa\x01mple.org>",
    "MAIL FROM:<klient @example.org>",
])
def test_a_sender_with_a_control_character_or_a_space_is_refused_with_501(serve, command):
    server = serve()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=15) as smtp:
        smtp.ehlo()
        code, text = smtp.docmd(command)
    assert (code, text[:5]) == (501, b"5.1.7")


@pytest.mark.parametrize("command", [
    "RCPT TO:<pomoc-dynamics @example.com>",
    "RCPT TO:<pomoc-dynamics+a\x00b@example.com>",
    "RCPT TO:< pomoc-dynamics@example.com>",
])
def test_a_recipient_with_a_space_or_a_control_character_is_not_the_queue_address(serve, command):
    server = serve()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=15) as smtp:
        smtp.ehlo()
        smtp.mail("klient@example.org")
        code, text = smtp.docmd(command)
        assert code == 501
        # The plain address is still taken.
        assert smtp.rcpt("pomoc-dynamics@example.com")[0] == 250


def test_path_check_leaves_parameters_and_plain_paths_alone():
    assert check_path("FROM:<a@b.c> SIZE=100 BODY=8BITMIME", "FROM:")
    assert check_path("FROM:<>", "FROM:")
    assert check_path("TO:a@b.c", "TO:")
    assert not check_path("TO:<a @b.c>", "TO:")
    assert not check_path("FROM:<a@b.c> SIZE=1\x00", "FROM:")


def test_reply_tokens_are_masked_in_the_log(serve, sqlite_db, caplog):
    server = serve()
    caplog.set_level(logging.INFO)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=15) as smtp:
        smtp.sendmail("klient+ABCsecret@example.org", ["pomoc-dynamics+t1.SeCrEtToKeN@example.com"], message())
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("klient@example.org", ["nobody+SeCrEtToKeN@example.com"], message())
    wait_until(lambda: count(sqlite_db, RawMessage) == 1)
    # aiosmtpd's own command log ("mail.log") is kept at WARNING by mailbridge's logging set-up.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("mailbridge"))
    assert "received" in ours and "pomoc-dynamics+…@example.com" in ours
    assert "SeCrEtToKeN" not in ours and "ABCsecret" not in ours


def test_mask_tokens():
    assert mask_tokens("a+tok@x.org,b@y.org,<c+t2@z.org>") == "a+…@x.org,b@y.org,<c+…@z.org>"


def test_an_untrusted_address_cannot_take_every_connection_from_the_trusted_mta(serve):
    # 127.0.0.1 plays the stranger here; the MTA connects from 127.0.0.2.
    server = serve('trusted_networks = ["127.0.0.2/32"]\nmax_connections = 40\nmax_connections_per_client = 3')
    strangers = [connect(server.port) for _ in range(3)]
    try:
        assert all(greeting(sock).startswith(b"220") for sock in strangers)
        refused = connect(server.port)
        assert greeting(refused).startswith(b"421 4.7.0")
        refused.close()
        with smtplib.SMTP("127.0.0.1", server.port, source_address=("127.0.0.2", 0), timeout=15) as mta:
            assert mta.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], message()) == {}
    finally:
        for sock in strangers:
            sock.close()
    # Closed connections are counted out: the stranger may connect again.
    wait_until(lambda: fresh_greeting(server.port).startswith(b"220"), what="a free slot")


def test_untrusted_clients_together_hold_at_most_half_of_the_connections(serve):
    server = serve('trusted_networks = ["127.0.0.2/32"]\nmax_connections = 4\nmax_connections_per_client = 4')
    held = [connect(server.port) for _ in range(2)]
    assert all(greeting(sock).startswith(b"220") for sock in held)
    extra = connect(server.port)
    assert greeting(extra).startswith(b"421")
    trusted = [connect(server.port, "127.0.0.2") for _ in range(2)]
    assert all(greeting(sock).startswith(b"220") for sock in trusted)
    for sock in held + trusted + [extra]:
        sock.close()


def test_an_idle_untrusted_client_is_cut_off_before_mail_from(serve):
    server = serve('trusted_networks = ["127.0.0.2/32"]\nuntrusted_idle_seconds = 1')
    stranger, mta = connect(server.port), connect(server.port, "127.0.0.2")
    assert greeting(stranger).startswith(b"220") and greeting(mta).startswith(b"220")
    stranger.settimeout(20)
    assert stranger.recv(1024) == b""  # closed by the server after about a second
    mta.sendall(b"NOOP\r\n")
    assert mta.recv(1024).startswith(b"250")  # the trusted one keeps the long idle time
    stranger.close()
    mta.close()


def test_connection_limits_count_in_and_out():
    limits = ConnectionLimits(total=4, per_client=2)
    assert limits.admit("a", False) and limits.admit("a", False)
    assert not limits.admit("a", False)  # per client
    assert not limits.admit("b", False)  # untrusted: half of the total
    assert limits.admit("m", True) and limits.admit("m", True)
    assert not limits.admit("m", True)  # the total
    limits.release("a", False)
    assert limits.admit("b", False)


def test_failed_logins_slow_down_and_are_logged_once_per_burst(serve, caplog):
    server = serve(f'users = {{ postfix = "{PASSWORD}" }}\nauth_require_tls = false')
    caplog.set_level(logging.INFO)
    took = []
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = "postfix", "wrong password guess"
        for _ in range(6):
            started = time.monotonic()
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.auth("PLAIN", smtp.auth_plain)  # one attempt (login() tries each mechanism)
            took.append(time.monotonic() - started)
        # The right password still works, only later.
        smtp.password = PASSWORD
        assert smtp.auth("PLAIN", smtp.auth_plain)[0] == 235
    assert took[5] >= 0.9, took  # 4th, 5th, 6th answers waited 0.25, 0.5, 1 s
    auth_lines = [r for r in caplog.records if r.name.startswith("mailbridge") and "AUTH" in r.getMessage()]
    assert len(auth_lines) == 1, [r.getMessage() for r in auth_lines]


def test_auth_throttle_logs_each_tenfold_and_forgets_after_a_quiet_gap(caplog):
    now = [0.0]
    throttle = AuthThrottle(clock=lambda: now[0])
    caplog.set_level(logging.INFO)
    for _ in range(1000):
        throttle.failed("203.0.113.9", "admin", "PLAIN")
    assert len(caplog.records) == 4  # 1, 10, 100, 1000
    assert throttle.delay("203.0.113.9") == 8.0
    now[0] = 10_000.0
    assert throttle.delay("203.0.113.9") == 0.0


def test_data_goes_to_the_spool_as_it_arrives_and_a_cut_connection_leaves_nothing(serve, sqlite_db, tmp_path):
    server = serve()
    tmp = tmp_path / "state" / "spool" / "tmp"
    sock = connect(server.port)
    assert greeting(sock).startswith(b"220")
    sock.sendall(b"EHLO client.test\r\nMAIL FROM:<klient@example.org>\r\nRCPT TO:<pomoc-dynamics@example.com>\r\n"
                 b"DATA\r\n")
    body = b"Subject: wielka\r\n\r\n" + b"..kropka i tekst\r\n" * 200_000
    sock.sendall(body)
    # Already on disk while the client is still sending.
    wait_until(lambda: [p for p in tmp.iterdir() if p.stat().st_size > 3_000_000], what="a growing spool file")
    sock.close()
    wait_until(lambda: not list(tmp.iterdir()), what="the unfinished file to go")
    raw = b"Subject: wielka\r\n\r\n" + b".kropka i tekst\r\n" * 200_000
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
        smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], raw)
    wait_until(lambda: count(sqlite_db, RawMessage) == 1, 30)
    with sqlite_db.session() as session:
        assert session.exec(RawMessage.__table__.select()).one().content == raw
