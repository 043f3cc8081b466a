"""SIGKILL `mailbridge serve` at random points while mail flows: what got 250 is stored exactly once.

Clients behave like an MTA: a message without a 250 (connection refused or cut) is sent again
later, except that some are abandoned after a failed try, so that "answered nothing" messages
exist too. At the end every acknowledged message has exactly one Message row, and every raw row
that exists was processed completely: nothing is half-stored.
"""

from __future__ import annotations

import os
import random
import smtplib
import threading
import time

from serve_support import ServeProcess, count, free_port, message, wait_until, write_config
from sqlmodel import select

from mailbridge.intake import durable
from mailbridge.store.models import Message, RawMessage, Ticket

MESSAGES = 240
CLIENTS = 3
KILLS = 4
# Room for a loaded machine: the senders usually finish in 10-30 s, and the joins return then.
DEADLINE_SECONDS = 180


class Sender:
    """One client thread's share of the messages, with what happened to each."""

    def __init__(self, port: int, ids: list[str], seed: int) -> None:
        self.port, self.todo = port, list(ids)
        self.acknowledged: set[str] = set()
        self.abandoned: set[str] = set()
        self.random = random.Random(seed)
        self.errors: list[BaseException] = []
        self.raw: dict[str, bytes] = {}

    def run(self, stop: threading.Event) -> None:
        try:
            while self.todo and not stop.is_set():
                self._try(self.todo[0])
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.errors.append(exc)

    def _bytes(self, message_id: str) -> bytes:
        # A retry resends the same bytes, as an MTA's queue file does.
        if message_id not in self.raw:
            self.raw[message_id] = message(f"Awaria {message_id}", message_id=message_id)
        return self.raw[message_id]

    def _try(self, message_id: str) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=10) as smtp:
                refused = smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"],
                                        self._bytes(message_id))
            assert refused == {}
            self.acknowledged.add(message_id)
            self.todo.pop(0)
        except ConnectionRefusedError:
            time.sleep(0.05)  # the server is restarting: try again, as an MTA would
        except (OSError, smtplib.SMTPException):
            # Cut off mid-conversation, perhaps after the commit but before the 250. An MTA
            # would retry (and be answered "already stored"); half of these we abandon instead.
            if self.random.random() < 0.5:
                self.abandoned.add(self.todo.pop(0))


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path, database):
    started = time.monotonic()
    port = free_port()
    config = write_config(tmp_path, database_url=database.url, listener=f"port = {port}")
    ids = [f"crash-{n}@client.example.org" for n in range(MESSAGES)]
    senders = [Sender(port, ids[n::CLIENTS], seed=n) for n in range(CLIENTS)]
    stop = threading.Event()
    server = ServeProcess(config).start()
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in senders]
    for thread in threads:
        thread.start()
    chaos = random.Random(4)
    try:
        for _ in range(KILLS):
            time.sleep(chaos.uniform(0.2, 0.8))
            server.kill()
            server.start()
        for thread in threads:
            thread.join(max(1.0, DEADLINE_SECONDS - (time.monotonic() - started)))
        assert not any(thread.is_alive() for thread in threads), "the senders did not finish in time"
        stop.set()
        spooled = tmp_path / "state" / "spool" / "new"
        wait_until(lambda: not os.listdir(spooled) and
                   count(database, RawMessage, RawMessage.state == "pending") == 0, 90,
                   "the restarted daemon to load its spool and process what was pending")
    finally:
        stop.set()
        code = server.stop()
    assert code == 0
    assert [e for s in senders for e in s.errors] == []
    acknowledged = set().union(*(s.acknowledged for s in senders))
    abandoned = set().union(*(s.abandoned for s in senders))
    assert len(acknowledged) + len(abandoned) == MESSAGES
    assert_stored_exactly_once(database, acknowledged, abandoned)


def assert_stored_exactly_once(db, acknowledged: set[str], abandoned: set[str]) -> None:
    with db.session() as session:
        messages = session.exec(select(Message.message_id, Message.raw_id, Message.ticket_id)).all()
        raws = session.exec(select(RawMessage.id, RawMessage.state)).all()
    stored = [m.message_id for m in messages]
    # Every 250 is there once; an abandoned message is there once (its commit beat the kill) or not at all.
    assert all(stored.count(mid) == 1 for mid in acknowledged)
    assert len(stored) == len(set(stored)) and set(stored) <= acknowledged | abandoned
    # Nothing half-stored: each raw row is done and has its one message on a ticket.
    held = [f"{q.stage}: {q.error}" for q in durable.list_quarantine(db, None)[:3]]
    assert {state for _, state in raws} <= {"done"}, held
    assert sorted(m.raw_id for m in messages) == sorted(raw_id for raw_id, _ in raws)
    assert all(m.ticket_id is not None for m in messages)
    assert count(db, Ticket) == len(stored)
