"""Fill a mailbridge SQLite database with N stored messages fast (executemany), for the scale benchmark.

The rows look like what the pipeline writes: each ticket opened by a customer's first mail with
its requester as participant and an acknowledgement in the outbox, followed by replies that name
earlier Message-IDs in In-Reply-To/References. Raw mail is a short stand-in (headers and a few
lines) rather than a full message: the indexes, which decide per-message cost, are real-sized,
while the file stays around 1.5 KB per message. The finished file is synced to disk, as a
database that has been in use for a while is.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import mailgen
from mailbridge.store.db import open_database

BATCH = 20_000
# A ticket gets this many messages on average (its first mail and the replies).
MESSAGES_PER_TICKET = 2.5
_QUEUES = (("dynamics", "DYN", "pomoc-dynamics@example.com"), ("powerbi", "PBI", "pomoc-powerbi@example.com"),
           ("soporte", "SOP", "soporte@example.com"), ("support", "SUP", "support@example.com"),
           ("critical", "CRT", "critical@example.com"))
_START = datetime(2024, 1, 1, tzinfo=UTC)


def create(path: Path, messages: int, seed: int = 1) -> dict:
    """A new database at `path` holding `messages` stored messages; returns its size figures."""
    open_database(f"sqlite:///{path}").dispose()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # The loader's own writes need no durability: a failed build is simply built again.
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-200000")
        counters = _load(connection, messages, seed)
        connection.executemany("INSERT INTO code_counter (prefix, last_value) VALUES (?, ?)", counters.items())
        connection.execute("PRAGMA journal_mode=WAL")
        tickets, = connection.execute("SELECT count(*) FROM ticket").fetchone()
    finally:
        connection.close()
    flush_to_disk(path)
    return {"messages": messages, "tickets": tickets, "bytes": path.stat().st_size}


def flush_to_disk(path: Path) -> None:
    """Write the file's dirty pages to disk now.

    Written without syncs, a 1M database leaves 2 GB of them in the page cache, and the kernel
    writing those back during a measurement slows every synced commit measured meanwhile.
    """
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _load(connection: sqlite3.Connection, messages: int, seed: int) -> dict[str, int]:
    rows: dict[str, list[tuple]] = {name: [] for name in _INSERTS}
    counters: dict[str, int] = {}
    for table, row in _rows(messages, seed, counters):
        batch = rows[table]
        batch.append(row)
        if len(batch) >= BATCH:
            _flush(connection, rows)
    _flush(connection, rows)
    return counters


def _flush(connection: sqlite3.Connection, rows: dict[str, list[tuple]]) -> None:
    connection.execute("BEGIN")
    # Parents first, so every foreign key points at a row that exists.
    for table in _INSERTS:
        if rows[table]:
            connection.executemany(_INSERTS[table], rows[table])
            rows[table].clear()
    connection.execute("COMMIT")


_INSERTS = {
    "raw_message": "INSERT INTO raw_message (id, sha256, content, size, source, envelope_from, envelope_rcpts, "
                   "received_at, state) VALUES (?, ?, ?, ?, 'smtp', ?, ?, ?, 'done')",
    "ticket": "INSERT INTO ticket (id, code, queue, status, priority, type, requester, requester_name, subject, "
              "language, created_at, updated_at, received_at, reopened_count) "
              "VALUES (?, ?, ?, ?, 'routine', 'question', ?, ?, ?, ?, ?, ?, ?, 0)",
    "participant": "INSERT INTO participant (ticket_id, address, name, role) VALUES (?, ?, ?, 'requester')",
    "message": "INSERT INTO message (id, raw_id, ticket_id, message_id, direction, kind, sender, sender_name, "
               "recipients, subject, text, reply_text, received_at, route_rule, route_detail, thread_rule, "
               "thread_detail, defects) VALUES (?, ?, ?, ?, 'in', 'customer', ?, ?, ?, ?, ?, ?, ?, 'to', '', ?, '', '[]')",
    "message_ref": "INSERT INTO message_ref (message_row_id, ref, kind) VALUES (?, ?, ?)",
    "outbox": "INSERT INTO outbox (id, intent, kind, ticket_id, message_id, mail_from, recipient, automatic, "
              "state, attempts, next_attempt_at, created_at, sent_at, last_error) "
              "VALUES (?, ?, 'ack', ?, ?, ?, ?, 1, 'sent', 1, ?, ?, ?, '')",
    "outbox_content": "INSERT INTO outbox_content (outbox_id, content) VALUES (?, ?)",
}


def _rows(messages: int, seed: int, counters: dict[str, int]) -> Iterator[tuple[str, tuple]]:
    """(table, row) for every row, tickets before the messages that point at them."""
    rng = random.Random(seed)
    people = mailgen.MailGenerator(seed)
    open_tickets: list[tuple] = []  # (ticket id, last Message-ID, subject, sender, queue address)
    ticket_id = 0
    for number in range(1, messages + 1):
        when = _START + timedelta(seconds=number * 20)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S.000000")
        reply = open_tickets and rng.random() > 1 / MESSAGES_PER_TICKET
        message_id = f"bulk.{number}.{rng.getrandbits(48):012x}@{rng.choice(('firma.pl', 'empresa.es', 'acme.co.uk'))}"
        if reply:
            index = rng.randrange(len(open_tickets))
            current, parent, subject, sender, address = open_tickets[index]
            open_tickets[index] = (current, message_id, subject, sender, address)
            yield "message_ref", (number, parent, "in-reply-to")
        else:
            ticket_id += 1
            current = ticket_id
            queue, prefix, address = rng.choice(_QUEUES)
            counters[prefix] = counters.get(prefix, 0) + 1
            language = rng.choice(mailgen.LANGUAGES)
            name, sender = people.person(language)
            subject = f"Zgłoszenie {number}: problem z logowaniem"
            status = rng.choice(("new", "open", "pending", "resolved", "closed", "closed", "closed"))
            yield "ticket", (current, f"{prefix}-{counters[prefix]:06d}", queue, status, sender, name, subject,
                             language, stamp, stamp, stamp)
            yield "participant", (current, sender, name)
            # One acknowledgement per ticket: the outbox row takes the ticket's id.
            yield "outbox", (current, f"ack:{current}", current, f"mb.ack.{current}@example.com", address, sender,
                             stamp, stamp, stamp)
            yield "outbox_content", (current, _ACK)
            open_tickets.append((current, message_id, subject, sender, address))
            if len(open_tickets) > 5000:
                open_tickets.pop(rng.randrange(len(open_tickets)))
        raw = _raw(message_id, sender, subject, number)
        yield "raw_message", (number, f"{number:016x}{rng.getrandbits(192):048x}", raw, len(raw), sender,
                              json.dumps([address]), stamp)
        yield "message", (number, number, current, message_id, sender, "", json.dumps([{"field": "to",
                          "name": "", "address": address}]), subject, _TEXT, _TEXT[:120], stamp,
                          "in-reply-to" if reply else "new")


_TEXT = ("Dzień dobry,\n\nod wczoraj nie mogę zalogować się do Dynamics 365, pojawia się błąd 403. "
         "Sprawdziłem to na dwóch komputerach i w dwóch przeglądarkach.\nProszę o pomoc.\n\nPozdrawiam\n")
_ACK = ("Subject: [DYN-000001] Otrzymaliśmy zgłoszenie\r\n\r\n" + "Dziękujemy za wiadomość. " * 20).encode()


def _raw(message_id: str, sender: str, subject: str, number: int) -> bytes:
    return (f"From: {sender}\r\nTo: pomoc-dynamics@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"\r\n{_TEXT}").encode()
