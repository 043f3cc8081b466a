"""The SMTP relay transport against real servers: STARTTLS with AUTH, implicit TLS, refusals; and `serve`."""

from __future__ import annotations

import smtplib
import ssl
import time
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult

from mailbridge.config.outbox import OutboxSection
from mailbridge.outgoing.transport import PermanentFailure, SmtpRelay, TemporaryFailure
from tests.serve_support import ServerThread, make_config, message
from tests.smtp_sink import Sink, free_port

MAIL = b"From: pomoc@example.com\r\nTo: jan@klient.pl\r\nSubject: test\r\n\r\nbody\r\n"
USER, PASSWORD = "mailbridge", "relay-password-0123456789"


@pytest.fixture
def certificate(tls_certificate) -> tuple[Path, Path]:
    return tls_certificate


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def relay(port: int, **settings) -> SmtpRelay:
    return SmtpRelay(OutboxSection(relay_host="localhost", relay_port=port, relay_timeout_seconds=5, **settings))


@pytest.fixture
def starttls_sink(certificate):
    sink = Sink(tls_context=server_context(certificate), require_starttls=True, authenticator=authenticator,
                auth_require_tls=True).start()
    yield sink
    sink.stop()


def test_starttls_and_auth_against_a_certificate_checked_with_the_configured_ca(starttls_sink, certificate):
    transport = relay(starttls_sink.port, relay_tls="starttls", relay_user=USER, relay_password=PASSWORD,
                      relay_ca_file=str(certificate[0]))
    assert transport.send("pomoc@example.com", "jan@klient.pl", MAIL) == f"relay localhost:{starttls_sink.port}"
    [received] = starttls_sink.received
    assert (received.mail_from, received.rcpt_tos) == ("pomoc@example.com", ["jan@klient.pl"])


def test_a_wrong_password_is_a_temporary_failure_the_mail_waits_for_the_fix(starttls_sink, certificate):
    transport = relay(starttls_sink.port, relay_tls="starttls", relay_user=USER,
                      relay_password="wrong-password-0123456789", relay_ca_file=str(certificate[0]))
    with pytest.raises(TemporaryFailure, match="535"):
        transport.send("pomoc@example.com", "jan@klient.pl", MAIL)
    assert starttls_sink.received == []


def test_an_untrusted_certificate_is_refused(starttls_sink):
    with pytest.raises(TemporaryFailure, match="CERTIFICATE_VERIFY_FAILED"):
        relay(starttls_sink.port, relay_tls="starttls").send("pomoc@example.com", "jan@klient.pl", MAIL)


def test_implicit_tls(certificate):
    sink = Sink(ssl_context=server_context(certificate)).start()
    try:
        transport = relay(sink.port, relay_tls="implicit", relay_ca_file=str(certificate[0]))
        transport.send("pomoc@example.com", "jan@klient.pl", MAIL)
        assert len(sink.received) == 1
    finally:
        sink.stop()


def test_refusals_are_permanent_for_5xx_and_temporary_for_4xx():
    sink = Sink().start()
    try:
        sink.handler.rcpt_reply = "550 5.1.1 <jan@klient.pl>: user unknown"
        with pytest.raises(PermanentFailure, match="RCPT answered 550 5.1.1"):
            relay(sink.port, relay_tls="none").send("pomoc@example.com", "jan@klient.pl", MAIL)
        sink.handler.rcpt_reply = None
        sink.handler.data_replies = ["452 4.3.1 insufficient storage"]
        with pytest.raises(TemporaryFailure, match="452 4.3.1"):
            relay(sink.port, relay_tls="none").send("pomoc@example.com", "jan@klient.pl", MAIL)
    finally:
        sink.stop()


def test_no_relay_listening_is_a_temporary_failure():
    with pytest.raises(TemporaryFailure, match="ConnectionRefusedError"):
        relay(free_port(), relay_tls="none").send("pomoc@example.com", "jan@klient.pl", MAIL)


def test_serve_sends_the_acknowledgement_through_the_relay(tmp_path, database):
    sink = Sink().start()
    outbox = f'port = 0\n[outbox]\nrelay_host = "127.0.0.1"\nrelay_port = {sink.port}\nrelay_tls = "none"'
    config = make_config(tmp_path, database, listener=outbox)
    try:
        with ServerThread(config, database) as server:
            with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as smtp:
                smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], message("Faktura"))
            deadline = time.monotonic() + 15
            while len(sink.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        sink.stop()
    by_recipient = {r.rcpt_tos[0]: r.message for r in sink.received}
    assert sorted(by_recipient) == ["anna.kowalska@example.com", "klient@example.org"]
    assert by_recipient["klient@example.org"]["Subject"].startswith("[DYN-000001] Otrzymaliśmy Twoje zgłoszenie")
