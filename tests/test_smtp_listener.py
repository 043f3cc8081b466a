"""The real SMTP/LMTP listener on a loopback port, driven by smtplib and swaks."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl

import pytest
from serve_support import (
    ServerThread,
    count,
    database_unavailable,
    have_swaks,
    make_config,
    message,
    swaks,
    wait_until,
)

from mailbridge.store.db import open_database
from mailbridge.store.models import Message, RawMessage, Ticket

needs_swaks = pytest.mark.skipif(
    not have_swaks() and not os.environ.get("CI"),
    reason="swaks is not installed (apt-get install swaks); CI installs it",
)


def _starter(tmp_path, db):
    servers: list[ServerThread] = []

    def start(listener: str = "") -> ServerThread:
        config = make_config(tmp_path, db, f"port = 0\n{listener}")
        servers.append(ServerThread(config, db).__enter__())
        return servers[-1]

    return start, servers


@pytest.fixture
def sqlite_db(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}")
    yield db
    db.dispose()


@pytest.fixture
def serve(tmp_path, sqlite_db):
    """Start the listener on SQLite with extra `[listener]` lines (protocol behaviour)."""
    start, servers = _starter(tmp_path, sqlite_db)
    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def serve_any(tmp_path, database):
    """Start the listener on each database kind (where storage is what is tested)."""
    start, servers = _starter(tmp_path, database)
    yield start
    for server in servers:
        server.stop()


def client(server: ServerThread, lmtp: bool = False) -> smtplib.SMTP:
    kind = smtplib.LMTP if lmtp else smtplib.SMTP
    return kind("127.0.0.1", server.port, local_hostname="client.test", timeout=15)


def send(server: ServerThread, raw: bytes, to: list[str] | None = None,
         sender: str = "klient@example.org") -> dict:
    with client(server) as smtp:
        return smtp.sendmail(sender, to or ["pomoc-dynamics@example.com"], raw)


def tickets(db) -> int:
    return count(db, Ticket)


def test_accepted_mail_becomes_a_ticket(serve_any, database):
    server = serve_any()
    with client(server) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size") and int(smtp.esmtp_features["size"]) == 25 * 1024 * 1024
        smtp.mail("klient@example.org")
        smtp.rcpt("pomoc-dynamics@example.com")
        code, reply = smtp.data(message())
    assert code == 250 and reply.startswith(b"2.0.0 OK queued as ")
    wait_until(lambda: tickets(database) == 1, what="the ticket")
    with database.session() as session:
        ticket = session.exec(Ticket.__table__.select()).one()
    assert ticket.queue == "dynamics" and ticket.code == "DYN-000001"
    assert count(database, RawMessage, RawMessage.state == "done") == 1


def nothing_stored(db, tmp_path) -> bool:
    """No raw message in the database and none waiting in the listener's spool."""
    return count(db, RawMessage) == 0 and not os.listdir(tmp_path / "state" / "spool" / "new")


def test_unknown_recipient_is_refused_at_rcpt_and_nothing_is_stored(serve, sqlite_db, tmp_path):
    server = serve()
    with client(server) as smtp:
        smtp.ehlo()
        smtp.mail("klient@example.org")
        assert smtp.rcpt("someone@example.com") == (550, b"5.1.1 <someone@example.com>: no such mailbox here")
        assert smtp.rcpt("pomoc-dynamics@example.net")[0] == 550
        code, _ = smtp.docmd("DATA")
    assert code == 503
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(server, message(), to=["relay-me@elsewhere.example"])
    assert nothing_stored(sqlite_db, tmp_path) and tickets(sqlite_db) == 0


def test_aliases_sub_addresses_and_case_are_accepted(serve, sqlite_db):
    server = serve()
    with client(server) as smtp:
        smtp.ehlo()
        smtp.mail("klient@example.org")
        for address in ("dynamics@example.com", "Pomoc-Dynamics+abc123@EXAMPLE.com", "soporte@example.com"):
            assert smtp.rcpt(address)[0] == 250, address


def test_oversize_mail_gets_552_whether_declared_or_not(serve, sqlite_db, tmp_path):
    server = serve("max_message_size = 2048")
    big = message(body="x" * 70 + ("\r\n" + "y" * 70) * 60)
    with client(server) as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["size"] == "2048"
        assert smtp.docmd("MAIL FROM:<klient@example.org> SIZE=99999")[0] == 552
        smtp.rset()
        smtp.mail("klient@example.org")
        smtp.rcpt("pomoc-dynamics@example.com")
        assert smtp.data(big)[0] == 552
        # The session goes on after a refusal: the next, smaller message is taken.
        smtp.mail("klient@example.org")
        smtp.rcpt("pomoc-dynamics@example.com")
        assert smtp.data(message(subject="Mniejsza"))[0] == 250
    wait_until(lambda: tickets(sqlite_db) == 1, what="the small message's ticket")
    assert count(sqlite_db, RawMessage) == 1


def test_too_many_recipients_get_452(serve, sqlite_db):
    server = serve("max_recipients = 2")
    with client(server) as smtp:
        smtp.ehlo()
        smtp.mail("klient@example.org")
        assert smtp.rcpt("pomoc-dynamics@example.com")[0] == 250
        assert smtp.rcpt("soporte@example.com")[0] == 250
        assert smtp.rcpt("dynamics@example.com") == (452, b"4.5.3 Too many recipients")
        assert smtp.data(message())[0] == 250
    wait_until(lambda: tickets(sqlite_db) == 1, what="the ticket")


def test_bad_commands_and_long_lines_get_5xx(serve, sqlite_db, tmp_path):
    server = serve()
    with client(server) as smtp:
        assert smtp.docmd("RCPT TO:<pomoc-dynamics@example.com>")[0] == 503  # before HELO
        smtp.ehlo()
        assert smtp.docmd("FROBNICATE")[0] == 500
        assert smtp.docmd("RCPT TO:<pomoc-dynamics@example.com>")[0] == 503  # before MAIL
        assert smtp.docmd("MAIL TO:<klient@example.org>")[0] == 501
        assert smtp.docmd("MAIL FROM:<no address at all>")[0] == 501  # spaces inside the path
        assert smtp.docmd("NOOP " + "z" * 2000)[0] == 500
        smtp.mail("klient@example.org")
        smtp.rcpt("pomoc-dynamics@example.com")
        long_line = message(body="w" * 1200)
        assert smtp.data(long_line)[0] == 500
    assert nothing_stored(sqlite_db, tmp_path)


def test_dot_stuffed_lines_and_8bit_bytes_are_stored_exactly(serve, sqlite_db):
    server = serve()
    raw = message(body="Linie z kropką:\r\n.\r\n..dwie\r\n.koniec") + "Zażółć\r\n".encode("cp1250")
    assert send(server, raw) == {}  # smtplib doubles the leading dots on the wire
    wait_until(lambda: count(sqlite_db, RawMessage) == 1, what="the raw message")
    with sqlite_db.session() as session:
        stored = session.exec(RawMessage.__table__.select()).one()
    assert stored.content == raw


def test_pipelined_commands_after_the_final_dot_are_answered(serve, sqlite_db):
    server = serve()
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        stream = sock.makefile("rwb")

        def say(line: bytes) -> bytes:
            stream.write(line)
            stream.flush()
            return stream.readline()

        stream.readline()  # greeting
        stream.write(b"EHLO client.test\r\n")
        stream.flush()
        while not stream.readline().startswith(b"250 "):
            pass
        assert say(b"MAIL FROM:<klient@example.org>\r\n").startswith(b"250")
        assert say(b"RCPT TO:<pomoc-dynamics@example.com>\r\n").startswith(b"250")
        assert say(b"DATA\r\n").startswith(b"354")
        # The message, its end mark, and the next commands in one write, as a pipelining MTA may.
        stream.write(b"Subject: Potok\r\n\r\nTekst\r\n.\r\nNOOP\r\nQUIT\r\n")
        stream.flush()
        replies = [stream.readline() for _ in range(3)]
    assert replies[0].startswith(b"250 2.0.0 OK queued as ")
    assert replies[1].startswith(b"250") and replies[2].startswith(b"221")
    wait_until(lambda: tickets(sqlite_db) == 1, what="the ticket")


def test_a_bounce_with_the_null_sender_is_accepted(serve_any, database):
    server = serve_any()
    with client(server) as smtp:
        smtp.ehlo()
        assert smtp.docmd("MAIL FROM:<>")[0] == 250
        smtp.rcpt("pomoc-dynamics@example.com")
        assert smtp.data(message(sender="mailer-daemon@example.org"))[0] == 250
    wait_until(lambda: count(database, RawMessage) == 1, what="the worker to load the spool")
    with database.session() as session:
        raw = session.exec(RawMessage.__table__.select()).one()
    assert raw.envelope_from == "" and raw.envelope_rcpts == ["pomoc-dynamics@example.com"]


def test_mail_is_accepted_while_the_database_is_down_and_becomes_one_ticket_after(serve_any, database, tmp_path):
    server = serve_any()
    raw = message()
    postgres_url = os.environ.get("MAILBRIDGE_TEST_POSTGRES_URL")
    with database_unavailable(database, postgres_url):
        assert send(server, raw) == {}
        # The MTA retried after a lost reply: the same bytes again.
        assert send(server, raw) == {}
    # The worker retries every few seconds; then the spool is loaded once and processed once.
    wait_until(lambda: count(database, RawMessage, RawMessage.state == "done") == 1, timeout=30,
               what="processing after the database came back")
    wait_until(lambda: not os.listdir(tmp_path / "state" / "spool" / "new"), what="the spool to empty")
    assert tickets(database) == 1 and count(database, Message) == 1 and count(database, RawMessage) == 1


def test_a_spool_that_cannot_be_written_gives_451_and_nothing_is_half_stored(serve, sqlite_db, tmp_path):
    server = serve()
    new = tmp_path / "state" / "spool" / "new"
    new.rmdir()
    new.write_text("not a folder")  # rename into it fails, as on a broken or full disk
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(server, message())
    finally:
        new.unlink()
        new.mkdir()
    assert refused.value.smtp_code == 451 and refused.value.smtp_error.startswith(b"4.3.0 ")
    assert not os.listdir(tmp_path / "state" / "spool" / "tmp")
    assert send(server, message()) == {}
    wait_until(lambda: tickets(sqlite_db) == 1, what="the ticket of the retried mail")


def test_lmtp_answers_once_per_recipient(serve_any, database):
    server = serve_any('protocol = "lmtp"\nmax_message_size = 4096')
    with client(server, lmtp=True) as lmtp:
        assert lmtp.docmd("EHLO", "client.test")[0] == 500  # LMTP speaks LHLO only
        assert lmtp.ehlo()[0] == 250  # smtplib.LMTP sends LHLO
        lmtp.mail("klient@example.org")
        assert lmtp.rcpt("pomoc-dynamics@example.com")[0] == 250
        assert lmtp.rcpt("nobody@example.com")[0] == 550
        assert lmtp.rcpt("soporte@example.com")[0] == 250
        assert lmtp.data(message())[0] == 250
        assert lmtp.getreply()[0] == 250  # the second accepted recipient's own reply
        lmtp.mail("klient@example.org")
        lmtp.rcpt("pomoc-dynamics@example.com")
        lmtp.rcpt("soporte@example.com")
        big = message(body=("v" * 70 + "\r\n") * 80)
        assert lmtp.data(big)[0] == 552
        assert lmtp.getreply()[0] == 552
        assert lmtp.noop()[0] == 250  # and the conversation is still in step
    wait_until(lambda: tickets(database) == 1, what="the ticket")


@needs_swaks
def test_swaks_delivers_a_polish_mail_and_is_refused_for_strangers(serve, sqlite_db, tmp_path):
    server = serve()
    eml = tmp_path / "zgloszenie.eml"
    eml.write_bytes(message("Błąd płatności w fakturze", body="Proszę o pomoc, faktura się nie księguje."))
    ok = swaks("--server", f"127.0.0.1:{server.port}", "--to", "pomoc-dynamics@example.com",
               "--from", "klient@example.org", "--data", str(eml))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    refused = swaks("--server", f"127.0.0.1:{server.port}", "--to", "who@example.com",
                    "--from", "klient@example.org", "--data", str(eml))
    assert refused.returncode == 24 and "550 5.1.1" in refused.stdout
    wait_until(lambda: tickets(sqlite_db) == 1, what="the ticket")
    with sqlite_db.session() as session:
        assert session.exec(Ticket.__table__.select()).one().subject == "Błąd płatności w fakturze"


def test_a_peer_outside_the_trusted_networks_gets_554(serve, sqlite_db):
    server = serve('trusted_networks = ["192.0.2.0/24"]')
    with client(server) as smtp:
        smtp.ehlo()
        code, reply = smtp.docmd("MAIL FROM:<klient@example.org>")
    assert code == 554 and reply.startswith(b"5.7.1 ")


def test_auth_lets_an_untrusted_peer_send(serve, sqlite_db):
    password = "Zr4p8LkQ2vX7mN3c"
    server = serve(f'trusted_networks = []\nauth_require_tls = false\nusers = {{ postfix = "{password}" }}')
    with client(server) as smtp:
        smtp.ehlo()
        assert smtp.docmd("MAIL FROM:<klient@example.org>")[0] == 530
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("postfix", "wrong-password-123")
        smtp.login("postfix", password)
        assert smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], message()) == {}
    wait_until(lambda: tickets(sqlite_db) == 1, what="the ticket")


def test_a_stopping_listener_refuses_new_mail_with_421(serve, sqlite_db):
    server = serve()
    smtp = client(server)
    smtp.ehlo()
    server.stop()
    with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError)):
        smtp.mail("klient@example.org")
        smtp.rcpt("pomoc-dynamics@example.com")
    smtp.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


@pytest.fixture
def certificate(tls_certificate) -> str:
    """The listener's TLS keys as config lines."""
    cert, key = tls_certificate
    return f'tls_cert = "{cert}"\ntls_key = "{key}"'


def tls_client(server: ServerThread) -> smtplib.SMTP:
    smtp = client(server)
    smtp.ehlo()
    assert smtp.has_extn("starttls")
    smtp.starttls(context=ssl._create_unverified_context())  # noqa: S323 - a self-signed test certificate
    smtp.ehlo()
    return smtp


def test_starttls_then_mail(serve, sqlite_db, certificate):
    server = serve(certificate)
    with tls_client(server) as smtp:
        assert smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], message()) == {}
    wait_until(lambda: tickets(sqlite_db) == 1, what="the ticket")


def test_require_tls_refuses_mail_before_starttls(serve, sqlite_db, certificate):
    server = serve(f"{certificate}\nrequire_tls = true")
    with client(server) as smtp:
        smtp.ehlo()
        assert smtp.docmd("MAIL FROM:<klient@example.org>")[0] == 530
    with tls_client(server) as smtp:
        assert smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], message()) == {}


def test_auth_is_offered_only_over_tls(serve, sqlite_db, certificate):
    password = "Tq7wE2rY9uI4oP6a"
    server = serve(f'{certificate}\ntrusted_networks = []\nusers = {{ postfix = "{password}" }}')
    with client(server) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
    with tls_client(server) as smtp:
        assert "PLAIN" in smtp.esmtp_features["auth"]
        smtp.login("postfix", password)
        assert smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], message()) == {}


@needs_swaks
def test_swaks_over_starttls_with_auth(serve, sqlite_db, certificate):
    password = "Hk3nB8vC5xZ1mQ7w"
    server = serve(f'{certificate}\ntrusted_networks = []\nusers = {{ postfix = "{password}" }}')
    common = ("--server", f"127.0.0.1:{server.port}", "--to", "soporte@example.com",
              "--from", "cliente@example.es", "--tls", "--auth", "PLAIN", "--auth-user", "postfix")
    assert swaks(*common, "--auth-password", "wrong-password-1").returncode == 28
    done = swaks(*common, "--auth-password", password, "--header", "Subject: No funciona el acceso")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(lambda: tickets(sqlite_db) == 1, what="the ticket")
