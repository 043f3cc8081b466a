"""`serve` sends outgoing mail from a sender process of its own: restarted when it dies, mid-burst too, without a mail lost or written twice.

Real `mailbridge serve` processes, a real Maildir (the default outbox when no relay is set), on
SQLite and on PostgreSQL: the sender is a child of `serve` beside the processing worker; a
SIGKILL in the middle of a burst of acknowledgements leaves every one of them in the Maildir
exactly once, and `serve` starts a new sender; a reload hands the sender the new config and
sending goes on.
"""

from __future__ import annotations

import email
import email.policy
import fcntl
import os
import re
import signal
import smtplib
from pathlib import Path

import pytest
from serve_support import ServeProcess, count, message, wait_until
from sqlmodel import select
from test_worker_process import gone
from test_workers import fill, write_config

from mailbridge.config import load_config
from mailbridge.service.child_process import SENDER_NICENESS
from mailbridge.store.db import Database
from mailbridge.store.models import Outbox, Ticket

_SENDER = re.compile(r"sender started \(pid (\d+)\)")
_WORKER = re.compile(r"processing worker started \(pid (\d+)\)")
BURST = 150


def send(server: ServeProcess, subject: str, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test", timeout=15) as smtp:
        smtp.sendmail(sender, ["support@example.com"], message(subject, to="support@example.com", sender=sender))


def sender_pids(server: ServeProcess) -> list[int]:
    return [int(m.group(1)) for line in server.lines if (m := _SENDER.search(line))]


def maildir_files(config_path: Path) -> list[Path]:
    maildir = load_config(config_path, env={}).outbox_maildir
    return [path for folder in ("new", "cur") for path in (maildir / folder).glob("*")]


def sent(db: Database) -> int:
    return count(db, Outbox, Outbox.state == "sent")


def assert_each_mail_once_in_the_maildir(db: Database, config_path: Path) -> None:
    """Every outbox row sent, one file each, no Message-ID twice, one acknowledgement per ticket."""
    with db.session() as session:
        rows = session.exec(select(Outbox.state, Outbox.kind, Outbox.ticket_id)).all()
    assert {state for state, _, _ in rows} == {"sent"}
    acked = [ticket for _, kind, ticket in rows if kind == "ack"]
    assert len(acked) == len(set(acked)) == count(db, Ticket)
    ids = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Message-ID"]
           for path in maildir_files(config_path)]
    assert len(ids) == len(set(ids)) == len(rows)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_sender_is_a_niced_process_of_its_own_and_sends_what_the_worker_queued(tmp_path, database):
    config_path = write_config(tmp_path, workers=1, database_url=database.url)
    server = ServeProcess(config_path).start()
    try:
        wait_until(lambda: sender_pids(server) and any(_WORKER.search(line) for line in server.lines),
                   what="the worker and the sender")
        [sender] = sender_pids(server)
        [worker] = [int(m.group(1)) for line in server.lines if (m := _WORKER.search(line))]
        assert sender not in (worker, server.process.pid)
        assert b"sender_process" in Path(f"/proc/{sender}/cmdline").read_bytes()
        # Sending yields the CPU to the listener and to processing; processing yields to no one.
        nice = os.getpriority(os.PRIO_PROCESS, server.process.pid)
        assert os.getpriority(os.PRIO_PROCESS, sender) == min(nice + SENDER_NICENESS, 19)
        assert os.getpriority(os.PRIO_PROCESS, worker) == nice
        send(server, "Proszę o pomoc", "klient@example.org")
        wait_until(lambda: count(database, Outbox) and sent(database) == count(database, Outbox), timeout=30,
                   what="the acknowledgement to be sent")
    finally:
        assert server.stop() == 0
    wait_until(lambda: gone(sender), what="the sender to exit with serve")
    assert any("sender stopped" in line for line in server.lines)
    assert_each_mail_once_in_the_maildir(database, config_path)


def test_a_sender_killed_mid_burst_loses_and_duplicates_nothing(tmp_path, database):
    fill(database, [message(f"Zgłoszenie {n}", to="pomoc-dynamics@example.com", sender=f"klient{n}@example.org")
                    for n in range(BURST)])
    config_path = write_config(tmp_path, workers=1, database_url=database.url)
    server = ServeProcess(config_path).start()
    try:
        wait_until(lambda: sender_pids(server), what="the sender")
        # Mid-burst: some acknowledgements out, more being queued and sent.
        wait_until(lambda: sent(database) >= 10, timeout=120, what="sending to be under way", interval=0.01)
        [first] = sender_pids(server)
        os.kill(first, signal.SIGKILL)
        assert sent(database) < BURST  # killed with acknowledgements still to send
        wait_until(lambda: len(sender_pids(server)) == 2, timeout=30, what="a new sender")
        assert any("sender exited with signal 9; starting it again" in line for line in server.lines)
        wait_until(lambda: count(database, Ticket) == BURST and sent(database) == count(database, Outbox),
                   timeout=300, what="every mail to be sent", interval=0.2)
    finally:
        assert server.stop() == 0
    assert_each_mail_once_in_the_maildir(database, config_path)


def test_a_reload_hands_the_sender_the_new_config_and_sending_goes_on(tmp_path, database):
    config_path = write_config(tmp_path, workers=1, database_url=database.url)
    server = ServeProcess(config_path).start()
    try:
        wait_until(lambda: sender_pids(server), what="the sender")
        send(server, "Przed zmianą", "pierwszy@example.org")
        wait_until(lambda: sent(database) >= 1, timeout=30, what="the first acknowledgement")
        alias = '"support@example.com"\naliases = ["help@example.com"]'
        config_path.write_text(config_path.read_text().replace('"support@example.com"', alias, 1))
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: len(sender_pids(server)) == 2, timeout=60, what="the sender with the new config")
        assert any("sender restarted with the new config" in line for line in server.lines)
        before = sent(database)
        send(server, "Po zmianie", "drugi@example.org")
        wait_until(lambda: sent(database) > before and sent(database) == count(database, Outbox), timeout=30,
                   what="the second acknowledgement")
    finally:
        assert server.stop() == 0
    assert not any("exited with" in line for line in server.lines)
    assert_each_mail_once_in_the_maildir(database, config_path)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_sender_waiting_for_its_slot_leaves_when_serve_stops(tmp_path, database):
    # Another instance on the same state directory holds the sender's lock for as long as it
    # runs. A `serve` whose sender waits for that lock must still stop at once: its sender has
    # taken nothing yet. (It used to wait for the lock, deaf to the stop, until `serve` killed
    # it after STOP_SECONDS.)
    config_path = write_config(tmp_path, workers=1, database_url=database.url)
    state_dir = load_config(config_path, env={}).state_dir
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(state_dir / "sender.lock", "a+b") as other_instances:
        fcntl.flock(other_instances, fcntl.LOCK_EX)
        server = ServeProcess(config_path).start()
        try:
            wait_until(lambda: any("waiting for the previous sender to finish" in line for line in server.lines),
                       what="the sender to wait for its lock")
        finally:
            assert server.stop(timeout=30) == 0
    assert not any("did not stop within" in line for line in server.lines)
