"""SIGHUP: a running `serve` takes a new queue at once, keeps the old config when the new one is bad,
and says which changes wait for a restart."""

from __future__ import annotations

import logging
import smtplib

from sqlmodel import select

from mailbridge.store.models import Ticket
from tests.serve_support import ServerThread, make_config, message, wait_until

NEW_QUEUE = """
[[queues]]
name = "nowy"
address = "nowy-produkt@example.com"
code_prefix = "NOW"
language = "pl"
"""


def _accepts(port: int, address: str) -> bool:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("klient@example.org")
        code, _ = smtp.rcpt(address)
        smtp.rset()
    return code == 250


def test_reload_applies_a_new_queue_and_keeps_the_old_config_when_the_new_one_is_bad(tmp_path, database, caplog):
    config = make_config(tmp_path, database)
    path = config.source
    original = path.read_text(encoding="utf-8")
    caplog.set_level(logging.INFO)
    with ServerThread(config, database) as server:
        assert not _accepts(server.port, "nowy-produkt@example.com")

        path.write_text(original + NEW_QUEUE, encoding="utf-8")
        server.reload()
        wait_until(lambda: _accepts(server.port, "nowy-produkt@example.com"), timeout=30, what="the new queue",
                   interval=0.2)
        # The new worker has the new queue too: mail to it becomes a ticket of that queue.
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
            smtp.sendmail("klient@example.org", ["nowy-produkt@example.com"],
                          message("Nowy produkt nie działa", to="nowy-produkt@example.com"))

        def ticket_of_new_queue() -> bool:
            with database.session() as session:
                return session.exec(select(Ticket).where(Ticket.queue == "nowy")).first() is not None

        wait_until(ticket_of_new_queue, timeout=60, what="a ticket of the new queue", interval=0.2)

        path.write_text(original + NEW_QUEUE + "\n[[queues]]\nname = \"Zła Nazwa\"\n", encoding="utf-8")
        server.reload()
        wait_until(lambda: "still running with the config loaded before" in caplog.text, timeout=30,
                   what="the refusal in the log")
        assert "config not reloaded: queues[3].name" in caplog.text
        assert _accepts(server.port, "nowy-produkt@example.com")

        path.write_text(original.replace("port = 0", "port = 2") + NEW_QUEUE, encoding="utf-8")
        server.reload()
        wait_until(lambda: "[listener] changed: that takes effect at the next restart" in caplog.text,
                   timeout=30, what="the restart note")
        assert _accepts(server.port, "pomoc-dynamics@example.com")
