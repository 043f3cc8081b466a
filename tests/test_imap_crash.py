"""SIGKILL `mailbridge serve` while it takes IMAP batches: after restarts, every message is stored once and marked.

The kills land wherever the poller happens to be: fetching, committing a batch, moving it,
recording the last UID. Whatever was committed but not moved is fetched again after the
restart, recognised by intake, and moved then; nothing is stored twice, nothing stays behind.
"""

from __future__ import annotations

import signal

import pytest
from dovecot import MailboxClient, imap_table
from serve_support import ServeProcess, count, message, wait_until, write_config
from sqlalchemy import func
from sqlmodel import select

from mailbridge.store.models import Message, RawMessage, Ticket

MESSAGES = 150
KILL_AT = (30, 70, 110)


@pytest.mark.parametrize("after_processing", ["move", "flag"])
def test_sigkill_during_imap_batches_stores_each_message_once_and_marks_it(tmp_path, database, dovecot,
                                                                           after_processing):
    user = dovecot.add_user()
    config = write_config(tmp_path, database_url=database.url)
    with config.open("a", encoding="utf-8") as file:
        file.write(imap_table(dovecot, user, batch_size=10, poll_interval=60,
                              after_processing=after_processing))
    mailbox = MailboxClient(dovecot, user)
    ids = [f"imap-crash-{n}@client.example.org" for n in range(MESSAGES)]
    mailbox.append([message(f"Awaria {n}", message_id=ids[n]) for n in range(MESSAGES)])
    server = ServeProcess(config)
    try:
        for threshold in KILL_AT:
            server.start()
            wait_until(lambda: count(database, RawMessage) >= threshold, timeout=60, what=f"{threshold} raw rows")
            server.stop(signal.SIGKILL)
        server.start()
        wait_until(lambda: _marked(mailbox, after_processing) == MESSAGES, timeout=90, what="every message marked")
        wait_until(lambda: count(database, RawMessage, RawMessage.state == "pending") == 0, timeout=90,
                   what="every message processed")
        assert server.stop() == 0
        if after_processing == "move":
            assert mailbox_counts(mailbox) == (0, MESSAGES)
    finally:
        server.kill()
        mailbox.close()
    assert count(database, RawMessage) == MESSAGES
    with database.session() as session:
        stored = session.exec(select(Message.message_id, func.count()).group_by(Message.message_id)).all()
    assert sorted(stored) == sorted((message_id, 1) for message_id in ids)
    assert count(database, Ticket) == MESSAGES


def _marked(mailbox: MailboxClient, after_processing: str) -> int:
    if after_processing == "move":
        return mailbox_counts(mailbox)[1]
    return len(mailbox.uids("INBOX", ["KEYWORD", "MailbridgeProcessed", "SEEN"]))


def mailbox_counts(mailbox: MailboxClient) -> tuple[int, int]:
    """(messages left in INBOX, messages in the processed folder); MOVE is atomic, so exact."""
    processed = mailbox.uids("mailbridge-processed") if mailbox.client.folder_exists("mailbridge-processed") else []
    return len(mailbox.uids("INBOX")), len(processed)
