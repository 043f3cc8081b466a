"""Fifty SMTP clients at once: every message answered 250, stored and processed, none lost."""

from __future__ import annotations

import smtplib
import threading

from serve_support import ServerThread, count, make_config, message, wait_until

from mailbridge.store.models import Message, RawMessage, Ticket

CLIENTS = 50
MESSAGES_EACH = 4


def test_fifty_concurrent_clients_lose_nothing(tmp_path, database):
    config = make_config(tmp_path, database)
    errors: list[BaseException] = []
    sent: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        try:
            start.wait(60)  # all fifty threads started: seconds on a loaded machine
            with connect(server.port) as smtp:
                for index in range(MESSAGES_EACH):
                    message_id = f"c{number}m{index}@load.example.org"
                    to = "soporte@example.com" if index % 2 else "pomoc-dynamics@example.com"
                    refused = smtp.sendmail("klient@example.org", [to],
                                            message(f"Klient {number} / {index}", to=to, message_id=message_id))
                    assert refused == {}
                    sent.append(message_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    with ServerThread(config, database) as server:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        total = CLIENTS * MESSAGES_EACH
        wait_until(lambda: count(database, RawMessage, RawMessage.state == "done") == total, 60,
                   "every message to be processed")
    assert len(sent) == total == len(set(sent))
    assert count(database, RawMessage) == total
    assert count(database, Message) == total and count(database, Ticket) == total
    assert count(database, Ticket, Ticket.queue == "soporte") == total // 2


def connect(port: int) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=60)
