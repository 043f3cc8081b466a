"""Outgoing mail across a SIGKILL in the middle of sending: recorded one by one, resumed at restart, duplicates held to the documented bound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
from serve_support import message, write_config
from smtp_sink import Sink
from sqlmodel import select

from mailbridge import pipeline
from mailbridge.config import load_config
from mailbridge.outgoing.transport import MaildirTransport
from mailbridge.store.models import Outbox

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# `serve`'s sender process, except that it is killed right after the relay has answered for the
# Nth mail and before that mail is recorded: the one window docs/outgoing.md admits.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from mailbridge.config import load_config
    from mailbridge.outgoing.outbox_worker import OutboxWorker, instance_id
    from mailbridge.outgoing.transport import transport_for
    from mailbridge.store.db import connect

    config, db, kill_after = load_config(sys.argv[1], env={}), connect(sys.argv[2]), int(sys.argv[3])
    inner, sent = transport_for(config), []

    class Dying:
        def send(self, *args):
            where = inner.send(*args)
            sent.append(where)
            if len(sent) == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return where

    worker = OutboxWorker(db=db, config=config, transport=Dying(), owner=instance_id(config))
    worker.resume()
    worker.drain()
""")


def run_sender(config_path, url, kill_after: int) -> int:
    return subprocess.run([sys.executable, "-c", CHILD, str(config_path), url, str(kill_after)],
                          timeout=120).returncode


def queue_mail(database, config_path, count: int) -> int:
    config = load_config(config_path, env={})
    for number in range(count):
        pipeline.ingest(message(f"Zgłoszenie {number}", sender=f"klient{number}@example.org"), db=database,
                        config=config, now=NOW, source="test", received_at=NOW,
                        envelope_rcpts=("pomoc-dynamics@example.com",))
    with database.session() as session:
        return len(session.exec(select(Outbox)).all())


def states(database) -> list[str]:
    with database.session() as session:
        return [row.state for row in session.exec(select(Outbox))]


@pytest.fixture
def sink():
    server = Sink().start()
    yield server
    server.stop()


def test_a_kill_after_the_relays_answer_sends_at_most_that_one_mail_twice(tmp_path, database, sink):
    config_path = write_config(tmp_path, database_url=database.url)
    with open(config_path, "a", encoding="utf-8") as config:
        config.write(f'\n[outbox]\nrelay_host = "127.0.0.1"\nrelay_port = {sink.port}\nrelay_tls = "none"\n')
    total = queue_mail(database, config_path, 6)
    assert run_sender(config_path, database.url, kill_after=3) == -signal.SIGKILL
    # The two mails before the kill were recorded as they went, not at the end of their batch.
    assert states(database).count("sent") == 2
    # The restarted sender takes its own leases back at once instead of after LEASE.
    assert run_sender(config_path, database.url, kill_after=10 ** 6) == 0
    assert states(database) == ["sent"] * total
    ids = [r.message.get("Message-ID") for r in sink.handler.received]
    assert set(ids) == set(_queued_ids(database))
    assert len(ids) - len(set(ids)) <= 1  # the one mail in hand at the kill


def test_through_the_maildir_a_kill_after_delivery_sends_nothing_twice(tmp_path, database):
    config_path = write_config(tmp_path, database_url=database.url)
    total = queue_mail(database, config_path, 6)
    assert run_sender(config_path, database.url, kill_after=3) == -signal.SIGKILL
    assert run_sender(config_path, database.url, kill_after=10 ** 6) == 0
    assert states(database) == ["sent"] * total
    delivered = os.listdir(tmp_path / "state" / "outbox-maildir" / "new")
    assert len(delivered) == total


# The sender with the real Maildir transport (batches written to tmp/, synced and renamed
# into new/ together, recorded together), killed after its Nth mail is written.
MAILDIR_CHILD = textwrap.dedent("""
    import os, signal, sys
    from contextlib import contextmanager
    from mailbridge.config import load_config
    from mailbridge.outgoing.outbox_worker import OutboxWorker, instance_id
    from mailbridge.outgoing.transport import MaildirTransport
    from mailbridge.store.db import connect

    config, db, kill_after = load_config(sys.argv[1], env={}), connect(sys.argv[2]), int(sys.argv[3])
    sent = []

    class Dying(MaildirTransport):
        @contextmanager
        def batch(self):
            with super().batch() as send:
                def dying(*args):
                    where = send(*args)
                    sent.append(where)
                    if len(sent) == kill_after:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return where
                yield dying

    worker = OutboxWorker(db=db, config=config, transport=Dying(config.outbox_maildir), owner=instance_id(config))
    worker.resume()
    worker.drain()
""")


def test_a_maildir_batch_recorded_together_sends_nothing_twice_across_a_kill(tmp_path, database):
    config_path = write_config(tmp_path, database_url=database.url)
    total = queue_mail(database, config_path, 6)
    child = [sys.executable, "-c", MAILDIR_CHILD, str(config_path), database.url]
    assert subprocess.run([*child, "3"], timeout=120).returncode == -signal.SIGKILL
    # Written but not yet synced, renamed or recorded: the batch is published and recorded after its last mail.
    maildir = tmp_path / "state" / "outbox-maildir"
    assert states(database).count("sent") == 0
    assert len(os.listdir(maildir / "new")) == 0
    assert len(os.listdir(maildir / "tmp")) == 3
    assert subprocess.run([*child, str(10 ** 6)], timeout=120).returncode == 0
    assert states(database) == ["sent"] * total
    # Each mail once in new/: the killed batch's temporaries never reached it, and were sent again.
    assert len(os.listdir(maildir / "new")) == total


def test_a_maildir_batch_already_in_new_is_found_again_not_written_twice(tmp_path):
    maildir = MaildirTransport(tmp_path / "outbox")
    mails = [("q@example.com", f"klient{n}@example.org", b"Message-ID: <a@b>\r\n\r\nhi\r\n") for n in range(3)]
    with maildir.batch() as send:
        first = [send(*mail) for mail in mails]
        # Staged: nothing is in new/ before the batch's files are synced together.
        assert os.listdir(tmp_path / "outbox" / "new") == []
    assert sorted(os.listdir(tmp_path / "outbox" / "new")) == sorted(os.path.basename(p) for p in first)
    assert os.listdir(tmp_path / "outbox" / "tmp") == []
    # Sent again after a crash before the record: each lands on its earlier copy.
    with maildir.batch() as send:
        assert [send(*mail) for mail in mails] == first
    assert len(os.listdir(tmp_path / "outbox" / "new")) == 3
    assert os.listdir(tmp_path / "outbox" / "tmp") == []


def test_a_failed_sync_of_a_maildir_batch_leaves_nothing_in_tmp_or_new(tmp_path, monkeypatch):
    from mailbridge.outgoing import transport as transport_module
    from mailbridge.outgoing.transport import TemporaryFailure

    def failing(paths):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(transport_module, "_sync_files", failing)
    maildir = MaildirTransport(tmp_path / "outbox")
    with pytest.raises(TemporaryFailure, match="Input/output error"):
        with maildir.batch() as send:
            send("q@example.com", "a@example.org", b"hi")
    assert os.listdir(tmp_path / "outbox" / "tmp") == []
    assert os.listdir(tmp_path / "outbox" / "new") == []


def test_the_maildir_recognises_a_mail_a_reader_already_moved_to_cur(tmp_path):
    maildir = MaildirTransport(tmp_path / "outbox")
    first = maildir.send("q@example.com", "klient@example.org", b"Message-ID: <a@b>\r\n\r\nhi\r\n")
    path = first.removeprefix("maildir ")
    os.rename(path, tmp_path / "outbox" / "cur" / (os.path.basename(path) + ":2,S"))
    maildir.send("q@example.com", "klient@example.org", b"Message-ID: <a@b>\r\n\r\nhi\r\n")
    assert os.listdir(tmp_path / "outbox" / "new") == []


def test_a_full_disk_leaves_no_temporary_files_in_the_maildir(tmp_path):
    # RLIMIT_FSIZE makes the write fail as a full disk does (EFBIG), in a child process.
    script = textwrap.dedent("""
        import resource, signal, sys
        from pathlib import Path
        from mailbridge.outgoing.transport import MaildirTransport, TemporaryFailure
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        maildir = MaildirTransport(Path(sys.argv[1]))
        maildir.send("q@example.com", "a@example.org", b"small")  # creates the folders
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
        for n in range(5):
            try:
                maildir.send("q@example.com", "a@example.org", b"x" * 4096 + bytes([n]))
            except TemporaryFailure:
                pass
            else:
                sys.exit("written despite the limit")
    """)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "outbox")], capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path / "outbox" / "tmp") == []
    assert len(os.listdir(tmp_path / "outbox" / "new")) == 1


def test_maildir_folders_and_files_are_private_whatever_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        where = MaildirTransport(tmp_path / "outbox").send("q@example.com", "a@example.org", b"hi")
    finally:
        os.umask(previous)
    assert os.stat(where.removeprefix("maildir ")).st_mode & 0o777 == 0o600
    for sub in ("", "tmp", "new", "cur"):
        assert os.stat(tmp_path / "outbox" / sub).st_mode & 0o777 == 0o700


def _queued_ids(database) -> list[str]:
    with database.session() as session:
        return [f"<{row.message_id}>" for row in session.exec(select(Outbox))]




def test_a_maildir_batch_is_synced_file_by_file_where_there_is_no_syncfs(tmp_path, monkeypatch):
    from mailbridge.outgoing import transport as transport_module

    assert transport_module._syncfs() is not None or not sys.platform.startswith("linux")
    monkeypatch.setattr(transport_module, "_syncfs", lambda: None)
    maildir = MaildirTransport(tmp_path / "outbox")
    with maildir.batch() as send:
        where = send("q@example.com", "a@example.org", b"hi\r\n")
    with open(where.removeprefix("maildir "), "rb") as file:
        assert file.read() == b"Return-Path: <q@example.com>\nDelivered-To: a@example.org\nhi\n"
