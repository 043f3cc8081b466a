"""The IMAP poller against a real Dovecot: stored, then marked; IDLE; restarts; UIDVALIDITY; backlog rules."""

from __future__ import annotations

import logging
import smtplib
import time

import pytest
from dovecot import Dovecot, MailboxClient, imap_table
from serve_support import ServerThread, count, message, wait_until, write_config
from sqlmodel import select

from mailbridge.config import load_config
from mailbridge.sources.imap import Poller
from mailbridge.store import imap_state
from mailbridge.store.models import Message, Quarantine, RawMessage, Ticket
from mailbridge.service.worker import Worker

PROCESSED = "mailbridge-processed"


def configure(tmp_path, db, server: Dovecot, user: str, **keys):
    # Tests of the connection alone pass no database: the URL is then one nothing opens.
    url = db.url if db is not None else f"sqlite:///{tmp_path / 'unused.sqlite3'}"
    path = write_config(tmp_path, database_url=url)
    with path.open("a", encoding="utf-8") as config:
        config.write(imap_table(server, user, **keys))
    return load_config(path, env={})


@pytest.fixture
def mailbox(dovecot):
    user = dovecot.add_user()
    client = MailboxClient(dovecot, user)
    client.user = user
    yield client
    client.close()


def drain(config, db) -> tuple[int, int]:
    """Take the mailbox's mail into intake, then process it: (taken, processed)."""
    taken = Poller(config.imap[0], db=db, config=config).drain()
    return taken, Worker(db=db, config=config).drain()


def test_mail_is_stored_then_moved_to_the_processed_folder(tmp_path, database, dovecot, mailbox):
    config = configure(tmp_path, database, dovecot, mailbox.user)
    mailbox.append([message(f"Awaria {n}") for n in range(3)])
    assert drain(config, database) == (3, 3)
    assert count(database, Ticket) == 3
    assert mailbox.uids("INBOX") == [] and len(mailbox.uids(PROCESSED)) == 3
    with database.session() as session:
        raws = list(session.exec(select(RawMessage)))
    assert {raw.source for raw in raws} == {"imap:support/INBOX"}
    state = imap_state.get_mailbox("support", "INBOX", db=database)
    assert state.last_uid == 3 and state.uidvalidity == mailbox.uidvalidity("INBOX")
    assert drain(config, database) == (0, 0)


def test_a_break_between_commit_and_mark_fetches_again_and_stores_once(tmp_path, database, dovecot, mailbox,
                                                                       monkeypatch):
    from mailbridge.sources import imap_client

    config = configure(tmp_path, database, dovecot, mailbox.user)
    mailbox.append([message(f"Przerwane {n}") for n in range(3)])
    real_mark = imap_client.mark

    def connection_lost(*args, **kwargs):
        raise ConnectionResetError("connection lost before the MOVE")

    monkeypatch.setattr(imap_client, "mark", connection_lost)
    with pytest.raises(ConnectionResetError):
        Poller(config.imap[0], db=database, config=config).drain()
    assert count(database, RawMessage) == 3 and len(mailbox.uids("INBOX")) == 3
    monkeypatch.setattr(imap_client, "mark", real_mark)
    assert drain(config, database) == (3, 3)
    assert count(database, RawMessage) == 3 and count(database, Ticket) == 3
    assert mailbox.uids("INBOX") == [] and len(mailbox.uids(PROCESSED)) == 3


def test_a_break_after_a_batch_commit_that_records_the_batch_before_loses_nothing(tmp_path, database, dovecot,
                                                                                 mailbox, monkeypatch):
    # The second batch's commit also records the first batch's last UID: a break before the
    # second batch is marked leaves the UID recorded only where every message is marked, and
    # the second batch stored but unmarked, fetched again and stored once.
    from mailbridge.sources import imap_client

    config = configure(tmp_path, database, dovecot, mailbox.user, batch_size=2)
    mailbox.append([message(f"Partia {n}") for n in range(5)])
    real_mark = imap_client.mark
    marks = []

    def first_mark_only(client, account, uids):
        if marks:
            raise ConnectionResetError("connection lost before the second MOVE")
        marks.append(list(uids))
        real_mark(client, account, uids)

    monkeypatch.setattr(imap_client, "mark", first_mark_only)
    with pytest.raises(ConnectionResetError):
        Poller(config.imap[0], db=database, config=config).drain()
    assert marks == [[1, 2]]
    assert count(database, RawMessage) == 4 and len(mailbox.uids("INBOX")) == 3
    assert imap_state.get_mailbox("support", "INBOX", db=database).last_uid == 2
    monkeypatch.setattr(imap_client, "mark", real_mark)
    assert drain(config, database) == (3, 5)
    assert count(database, RawMessage) == 5 and count(database, Ticket) == 5
    assert mailbox.uids("INBOX") == [] and len(mailbox.uids(PROCESSED)) == 5
    assert imap_state.get_mailbox("support", "INBOX", db=database).last_uid == 5


def test_received_at_is_the_servers_internaldate(tmp_path, database, dovecot, mailbox):
    from datetime import UTC, datetime

    config = configure(tmp_path, database, dovecot, mailbox.user)
    when = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    mailbox.client.append("INBOX", message(), msg_time=when)
    drain(config, database)
    with database.session() as session:
        assert session.exec(select(RawMessage)).one().received_at == when


def test_flag_mode_leaves_mail_in_place_flagged_seen_with_the_keyword(tmp_path, database, dovecot, mailbox):
    config = configure(tmp_path, database, dovecot, mailbox.user, after_processing="flag")
    mailbox.append([message("Pierwsza"), message("Druga")])
    assert drain(config, database) == (2, 2)
    flags = mailbox.flags("INBOX")
    assert len(flags) == 2
    assert all({b"\\Seen", b"MailbridgeProcessed"} <= f for f in flags.values())
    mailbox.append([message("Trzecia")])
    assert drain(config, database) == (1, 1)
    assert count(database, Ticket) == 3


def test_a_mailbox_feeding_a_queue_routes_mail_not_addressed_to_it(tmp_path, database, dovecot, mailbox):
    config = configure(tmp_path, database, dovecot, mailbox.user, queue="soporte")
    mailbox.append([message("Consulta", to="ayuda-interna@empresa.example")])
    drain(config, database)
    with database.session() as session:
        assert session.exec(select(Ticket.queue)).one() == "soporte"


def test_a_message_the_pipeline_rejects_is_quarantined_and_still_marked(tmp_path, database, dovecot, mailbox):
    config = configure(tmp_path, database, dovecot, mailbox.user)
    mailbox.append([message("Nobody serves this", to="someone@elsewhere.example"), message("Fine")])
    assert drain(config, database) == (2, 2)
    assert count(database, Quarantine) == 1 and count(database, Ticket) == 1
    assert mailbox.uids("INBOX") == [] and len(mailbox.uids(PROCESSED)) == 2
    # Marked, so never fetched again: the next pass finds nothing to fail on.
    assert drain(config, database) == (0, 0)
    assert count(database, RawMessage) == 2


def test_a_uidvalidity_change_rescans_without_new_tickets(tmp_path, database, dovecot, mailbox):
    config = configure(tmp_path, database, dovecot, mailbox.user, folder="Support", after_processing="flag",
                       backlog="new")
    mailbox.client.create_folder("Support")
    first = [message(f"Zgłoszenie {n}") for n in range(3)]
    mailbox.append(first, folder="Support", flags=())
    Poller(config.imap[0], db=database, config=config).drain()  # first look: "new" leaves these
    mailbox.append(first[:1], folder="Support")
    assert drain(config, database) == (1, 1)
    before = mailbox.uidvalidity("Support")
    mailbox.recreate("Support")
    # The folder is refilled (a restore, a server move): the mail taken before comes back
    # unflagged, once byte for byte and once with a header the move added, next to one new
    # message. Intake knows the first by its bytes, the pipeline the second by its Message-ID.
    restored = b"X-Restored-From: backup\r\n" + first[0]
    mailbox.append([first[0], restored, message("Nowe po przeniesieniu")], folder="Support")
    assert mailbox.uidvalidity("Support") != before
    assert drain(config, database) == (3, 2)
    assert count(database, Ticket) == 2 and count(database, Message) == 2
    assert all(b"MailbridgeProcessed" in f for f in mailbox.flags("Support").values())
    state = imap_state.get_mailbox("support", "Support", db=database)
    assert state.rescanned_at is not None and state.uidvalidity == mailbox.uidvalidity("Support")


@pytest.mark.parametrize(("backlog", "expected"), [("all", 3), ("unseen", 2), ("new", 0),
                                                    ("since:2026-06-01", 1)])
def test_the_backlog_rule_decides_what_was_there_before(tmp_path, database, dovecot, mailbox, backlog, expected):
    from datetime import UTC, datetime

    config = configure(tmp_path, database, dovecot, mailbox.user, backlog=backlog)
    mailbox.client.append("INBOX", message("Read long ago"), flags=[b"\\Seen"],
                          msg_time=datetime(2026, 1, 5, tzinfo=UTC))
    mailbox.client.append("INBOX", message("Unread, January"), msg_time=datetime(2026, 1, 6, tzinfo=UTC))
    mailbox.client.append("INBOX", message("Unread, recent"), msg_time=datetime(2026, 7, 1, tzinfo=UTC))
    assert drain(config, database)[0] == expected
    mailbox.append([message("Arrived after the first look")])
    assert drain(config, database)[0] == 1
    assert len(mailbox.uids("INBOX")) == 3 - expected


def test_mail_arriving_by_smtp_and_by_imap_is_one_ticket(tmp_path, database, dovecot, mailbox):
    config = configure(tmp_path, database, dovecot, mailbox.user, poll_interval=60)
    raw = message("Ta sama wiadomość dwiema drogami")
    with ServerThread(config, database) as server:
        with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test") as smtp:
            smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], raw)
        # The mailbox copy went through another MTA on its way: same message, other bytes.
        mailbox.append([b"Delivered-To: pomoc-dynamics@example.com\r\n"
                        b"Received: from mx.example.com by imap.example.com; Sun, 22 Nov 2026 09:00:00 +0000\r\n"
                        + raw])
        wait_until(lambda: count(database, RawMessage, RawMessage.state == "done") == 2, what="both copies")
        wait_until(lambda: mailbox.uids("INBOX") == [], what="the mailbox copy moved")
    assert count(database, Ticket) == 1 and count(database, Message) == 1


def test_idle_brings_new_mail_in_and_it_is_moved(tmp_path, database, dovecot, mailbox):
    # The safety-net poll and the IDLE renewal come only after an hour: whatever arrives within
    # the generous deadlines below was brought in by IDLE, however slow a loaded machine is.
    config = configure(tmp_path, database, dovecot, mailbox.user, poll_interval=3600, idle_renew=1700)
    with ServerThread(config, database):
        wait_until(lambda: imap_state.get_mailbox("support", "INBOX", db=database), what="the first look")
        for round_ in range(2):
            mailbox.append([message(f"IDLE {round_}-{n}") for n in range(5)])
            wait_until(lambda: count(database, RawMessage) == 5 * (round_ + 1), timeout=60, what="the mail taken")
            wait_until(lambda: mailbox.uids("INBOX") == [], timeout=30, what="the mail moved")
            wait_until(lambda: count(database, Ticket) == 5 * (round_ + 1), timeout=60, what="tickets")
    assert len(mailbox.uids(PROCESSED)) == 10


def idle_session(config):
    """A poller and its connection, standing where a pass ends and the wait for mail begins."""
    from mailbridge.sources import imap_client

    poller = Poller(config.imap[0], db=None, config=config)
    client = imap_client.connect(config.imap[0])
    imap_client.open_folder(client, config.imap[0])
    # The pass's last SEARCH: nothing new. It also clears what SELECT announced.
    assert client.search(["ALL"]) == []
    client._imap.untagged_responses.clear()
    return poller, client


def read_late(client) -> None:
    """Make `idle()` read its answer only once the server's EXISTS is on the socket as well.

    That is what a loaded machine does to the poller's thread: "+ idling" and the EXISTS that
    follows it at once arrive together in one read.
    """
    import socket

    real = client._imap._get_response

    def late() -> object:
        wait_until(lambda: b"EXISTS" in client.socket().recv(4096, socket.MSG_PEEK), timeout=10,
                   what="the EXISTS after '+ idling'")
        client._imap._get_response = real
        return real()

    client._imap._get_response = late


def test_mail_announced_as_idle_starts_ends_the_idle_even_when_read_late(tmp_path, dovecot, mailbox):
    config = configure(tmp_path, None, dovecot, mailbox.user, poll_interval=60)
    poller, client = idle_session(config)
    try:
        mailbox.append([message("Tuż przed IDLE")])
        read_late(client)
        started = time.monotonic()
        poller._wait_for_mail(client)
        # Without looking at what imaplib already buffered, this waits out the 60 s poll.
        assert time.monotonic() - started < 20
        assert client.search(["ALL"]) == [1]
    finally:
        client.logout()


def test_idle_over_implicit_tls_wakes_for_new_mail_and_times_out_cleanly(tmp_path, dovecot, mailbox):
    config = configure(tmp_path, None, dovecot, mailbox.user, host="localhost", port=dovecot.tls_port,
                       tls="implicit", ca_file=str(dovecot.dir / "cert.pem"), poll_interval=1)
    poller, client = idle_session(config)
    try:
        started = time.monotonic()
        poller._wait_for_mail(client)  # nothing arrives: the 1 s safety-net poll ends it
        assert 0.9 < time.monotonic() - started < 20
        mailbox.append([message("Przez TLS w trakcie IDLE")])
        poller._wait_for_mail(client)
        assert client.search(["ALL"]) == [1]
    finally:
        client.logout()


def test_2000_messages_already_there_at_start_are_all_taken_once(tmp_path, dovecot, mailbox, request):
    from sqlalchemy import func

    from mailbridge.store.db import open_database

    db = open_database(f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}")
    request.addfinalizer(db.dispose)
    config = configure(tmp_path, db, dovecot, mailbox.user, batch_size=200, poll_interval=60)
    mailbox.append([message(f"Zaległe {n}", sender=f"klient{n % 50}@example.org") for n in range(2000)])
    with ServerThread(config, db):
        # The poller's part: every message durable once and moved. The worker turns them into
        # tickets meanwhile, at the pipeline's own pace (tested elsewhere); some are done here.
        # Looked at five times a second, and by message count: a SELECT and SEARCH of 2,000 UIDs
        # every few milliseconds contends with the poller's MOVEs for Dovecot's locks and for
        # this process's CPU. The deadline leaves room for a loaded machine (unloaded: ~6 s).
        wait_until(lambda: mailbox.count("INBOX") == 0, timeout=120, what="the folder emptied", interval=0.2)
        wait_until(lambda: count(db, Ticket) > 0, what="tickets appearing")
    assert len(mailbox.uids(PROCESSED)) == 2000
    with db.session() as session:
        assert session.exec(select(func.count(func.distinct(RawMessage.sha256)))).one() == 2000
    assert count(db, RawMessage) == 2000
    assert imap_state.get_mailbox("support", "INBOX", db=db).last_uid == 2000


def test_a_dovecot_restart_mid_stream_is_logged_once_and_nothing_is_lost(tmp_path, database, own_dovecot,
                                                                         caplog):
    user = own_dovecot.add_user()
    config = configure(tmp_path, database, own_dovecot, user, poll_interval=60)
    client = MailboxClient(own_dovecot, user)
    caplog.set_level(logging.INFO, logger="mailbridge.sources.imap")
    with ServerThread(config, database):
        client.append([message(f"Przed {n}") for n in range(5)])
        wait_until(lambda: count(database, Ticket) == 5, what="the first tickets")
        client.close()
        own_dovecot.restart()
        client = MailboxClient(own_dovecot, user)
        client.append([message(f"Po {n}") for n in range(5)])
        # The reconnects back off (1, 2, 4 s ...) while the server restarts: a loaded machine may
        # take several of them.
        wait_until(lambda: count(database, Ticket) == 10, timeout=60, what="tickets after the restart")
        wait_until(lambda: client.uids("INBOX") == [], what="all moved")
    client.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    recovered = [r.getMessage() for r in caplog.records if "working again" in r.getMessage()]
    assert 1 <= len(errors) <= 2, errors  # the drop, and perhaps a refused reconnect while it restarts
    assert len(recovered) == 1


def test_connection_problems_are_logged_once_and_retried(tmp_path, database, caplog):
    from dovecot import free_port

    from mailbridge.config.imap import ImapAccount

    account = ImapAccount(name="down", host="127.0.0.1", port=free_port(), tls="none", user="u", password="p")
    poller = Poller(account, db=database, config=None, draw=lambda: 0.0)
    poller.backoff_cap_seconds = 0.05
    caplog.set_level(logging.DEBUG, logger="mailbridge.sources.imap")
    poller.start()
    wait_until(lambda: sum("retrying" in r.getMessage() for r in caplog.records) >= 4, what="retries")
    poller.stop()
    assert poller.join(5)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"IMAP down: cannot connect to 127.0.0.1:{account.port}: Connection refused")


def test_a_wrong_password_says_so_and_retries_slowly(own_dovecot, database, caplog):
    from mailbridge.config.imap import ImapAccount

    account = ImapAccount(name="support", host="127.0.0.1", port=own_dovecot.port, tls="none",
                          user=own_dovecot.add_user(), password="not-the-password")
    poller = Poller(account, db=database, config=None, draw=lambda: 0.0)
    caplog.set_level(logging.INFO, logger="mailbridge.sources.imap")
    poller.start()
    wait_until(lambda: any(r.levelno >= logging.ERROR for r in caplog.records), what="the login failure")
    poller.stop()
    assert poller.join(5)
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.startswith("IMAP login failed for support: check user/password")
    assert line.endswith("retrying in 300 s")


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_modes_with_a_private_ca(tmp_path, database, dovecot, mailbox, tls):
    port = dovecot.tls_port if tls == "implicit" else dovecot.port
    config = configure(tmp_path, database, dovecot, mailbox.user, host="localhost", port=port, tls=tls,
                       ca_file=str(dovecot.dir / "cert.pem"))
    mailbox.append([message("Przez TLS")])
    assert drain(config, database) == (1, 1)


def test_an_untrusted_certificate_is_a_clear_tls_problem(tmp_path, database, dovecot, mailbox):
    from mailbridge.sources.imap_problem import ImapProblem

    config = configure(tmp_path, database, dovecot, mailbox.user, host="localhost", port=dovecot.tls_port,
                       tls="implicit")
    with pytest.raises(ImapProblem) as caught:
        Poller(config.imap[0], db=database, config=config).drain()
    assert caught.value.kind == "tls"
    assert str(caught.value).startswith(f"IMAP support: TLS with localhost:{dovecot.tls_port} failed: ")
