"""SIGKILL `mailbridge serve` under a mixed load: SMTP and IMAP in, acknowledgements out through a relay.

What got a 250 or sat in the IMAP mailbox is stored exactly once; every mail queued goes out,
and a second copy only within docs/outgoing.md's bound: at most one per kill. The always-on run
is short; MAILBRIDGE_SOAK=1 runs the long one (thousands of messages, dozens of kills).
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest
from dovecot import MailboxClient, imap_table
from serve_support import ServeProcess, count, free_port, message, wait_until, write_config
from smtp_sink import Sink
from sqlmodel import select
from test_crash_smtp import Sender, assert_stored_exactly_once

from mailbridge.intake import durable
from mailbridge.store.models import Message, Outbox, RawMessage

# MAILBRIDGE_SOAK=1 for the long run, or =SMTP,IMAP,KILLS for a size of one's own.
SOAK = os.environ.get("MAILBRIDGE_SOAK", "")
SMTP_MESSAGES, IMAP_MESSAGES, KILLS = (
    tuple(int(n) for n in SOAK.split(",")) if "," in SOAK else (3000, 1000, 40) if SOAK else (120, 60, 3))
CLIENTS = 3
DEADLINE_SECONDS = 3600 if SOAK else 240
# How long the backlog left after the last kill may take (thousands of messages in a soak).
SETTLE_SECONDS = 900 if SOAK else 120


@pytest.fixture
def relay():
    sink = Sink().start()
    yield sink
    sink.stop()


def test_sigkill_under_smtp_imap_and_outgoing_load(tmp_path, database, dovecot, relay):
    started = time.monotonic()
    user = dovecot.add_user()
    # A fixed port: the clients reconnect to it after each restart, as an MTA would.
    config = write_config(tmp_path, database_url=database.url, listener=f"port = {free_port()}")
    with config.open("a", encoding="utf-8") as file:
        file.write(imap_table(dovecot, user, batch_size=10, poll_interval=1, after_processing="move"))
        file.write(f'\n[outbox]\nrelay_host = "127.0.0.1"\nrelay_port = {relay.port}\nrelay_tls = "none"\n'
                   'relay_timeout_seconds = 10\n')
    mailbox = MailboxClient(dovecot, user)
    imap_ids = [f"mixed-imap-{n}@client.example.org" for n in range(IMAP_MESSAGES)]
    server = ServeProcess(config).start()
    smtp_ids = [f"mixed-smtp-{n}@client.example.org" for n in range(SMTP_MESSAGES)]
    stop = threading.Event()
    senders = [Sender(server.port, smtp_ids[n::CLIENTS], seed=n) for n in range(CLIENTS)]
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in senders]
    for thread in threads:
        thread.start()
    chaos = random.Random(16)
    try:
        for kill in range(KILLS):
            # IMAP mail arrives in slices between the kills, so that polls are cut off too.
            part = imap_ids[kill * IMAP_MESSAGES // KILLS:(kill + 1) * IMAP_MESSAGES // KILLS]
            mailbox.append([message(f"Skrzynka {mid}", sender=f"imap{n}@example.org", message_id=mid)
                            for n, mid in enumerate(part)])
            time.sleep(chaos.uniform(0.5, 2.0))
            server.kill()
            server.start()
        for thread in threads:
            thread.join(max(1.0, DEADLINE_SECONDS - (time.monotonic() - started)))
        assert not any(thread.is_alive() for thread in threads), "the senders did not finish in time"
        wait_until(lambda: mailbox.count("INBOX") == 0, SETTLE_SECONDS, "the IMAP inbox to be emptied",
                   interval=0.5)
        wait_until(lambda: count(database, RawMessage, RawMessage.state == "pending") == 0
                   and not os.listdir(tmp_path / "state" / "spool" / "new"), SETTLE_SECONDS,
                   "processing to finish", interval=0.5)
        wait_until(lambda: count(database, Outbox, Outbox.state == "queued") == 0, SETTLE_SECONDS,
                   "the outbox to be sent", interval=0.5)
    finally:
        stop.set()
        code = server.stop()
        mailbox.close()
    assert code == 0
    assert [e for s in senders for e in s.errors] == []
    acknowledged = set().union(*(s.acknowledged for s in senders)) | set(imap_ids)
    abandoned = set().union(*(s.abandoned for s in senders))
    with database.session() as session:
        stored = [row.message_id for row in session.exec(select(Message))]
    missing = sorted(acknowledged - set(stored))
    twice = sorted({mid for mid in stored if stored.count(mid) > 1})
    held = [(q.raw_id, q.stage, q.error[:100]) for q in durable.list_quarantine(database, None)[:5]]
    assert (missing[:5], twice[:5], held) == ([], [], []), (len(missing), len(twice))
    assert_stored_exactly_once(database, acknowledged, abandoned)
    with database.session() as session:
        rows = session.exec(select(Outbox)).all()
    # The SMTP clients all write as one customer: past the rate limit their mail is held, not sent.
    assert {row.state for row in rows} <= {"sent", "held"}
    queued = {f"<{row.message_id}>" for row in rows if row.state == "sent"}
    sent = [r.message.get("Message-ID") for r in relay.handler.received]
    assert set(sent) == queued
    duplicates = len(sent) - len(set(sent))
    print(f"\n{len(acknowledged)} messages in, {len(queued)} mails out, {duplicates} sent twice, {KILLS} kills")
    assert duplicates <= KILLS
