"""Migration 0011: mail queued under 0010 moves to `outbox_content` and is sent afterwards; the downgrade puts it back."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from mailbridge.outgoing.outbox_worker import OutboxWorker
from mailbridge.outgoing.transport import MaildirTransport
from mailbridge.store import db as store_db

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
MAILS = {f"q{n}@example.com": f"Message-ID: <q{n}@example.com>\r\nSubject: n{n}\r\n\r\n".encode() + bytes(n * 5000)
         for n in range(3)}


def _queue_under_0010(url: str) -> None:
    db = store_db.connect(url)
    store_db.upgrade(db, "0010_scale_indexes")
    with db.engine.begin() as connection:
        for number, (recipient, content) in enumerate(MAILS.items()):
            connection.execute(text(
                "INSERT INTO outbox (intent, kind, message_id, mail_from, recipient, content, automatic, state, "
                "attempts, next_attempt_at, created_at, last_error) VALUES (:intent, 'ack', :mid, "
                "'support@example.com', :recipient, :content, true, 'queued', 0, :now, :now, '')"),
                {"intent": f"ack:{number}", "mid": f"q{number}@example.com", "recipient": recipient,
                 "content": content, "now": NOW})
    db.dispose()


def test_mail_queued_before_0011_is_moved_and_sent_after_the_upgrade(empty_database_url, tmp_path):
    _queue_under_0010(empty_database_url)
    db = store_db.connect(empty_database_url)
    store_db.upgrade(db)
    folder = tmp_path / "maildir"
    worker = OutboxWorker(db=db, config=None, transport=MaildirTransport(folder), clock=lambda: NOW, owner="test")
    assert worker.drain() == len(MAILS)
    written = sorted(path.read_bytes() for path in (folder / "new").iterdir())
    # Each file is the envelope's headers and then the mail as it was queued (LF line ends).
    assert len(written) == len(MAILS)
    for content in MAILS.values():
        assert sum(file.endswith(content.replace(b"\r\n", b"\n")) for file in written) == 1
    db.dispose()


def test_the_downgrade_puts_the_mail_back_in_its_row(empty_database_url):
    _queue_under_0010(empty_database_url)
    db = store_db.connect(empty_database_url)
    store_db.upgrade(db)
    with db.engine.begin() as connection:
        config = store_db._alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0010_scale_indexes")
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT recipient, content FROM outbox ORDER BY id")).all()
    assert {recipient: bytes(content) for recipient, content in rows} == MAILS
    db.dispose()
