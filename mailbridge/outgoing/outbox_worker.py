"""The outbox worker: deliver due mail through the transport and record each result.

`drain()` sends everything due now and returns: a one-off CLI run calls it once, and `serve`'s
sender process (`mailbridge.service.sender_process`) calls it whenever it is woken (after each
group of messages a processing worker commits, after a tick queued mail) and every few seconds
for retries whose time has come, on a core beside the listener's. Delivery never touches intake:
what we send leaves through the relay or a Maildir folder and is never read back in as incoming mail.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime

from mailbridge.outgoing import outbox
from mailbridge.config.models import Config
from mailbridge.store.db import Database
from mailbridge.store.models import Outbox
from mailbridge.store.types import utcnow
from mailbridge.outgoing.transport import (PermanentFailure, TemporaryFailure, Transport, batch, deduplicates,
                                           flush, transport_for)

log = logging.getLogger(__name__)

# Mails claimed in one transaction. Through a relay each is recorded as sent the moment the
# relay has answered, so a crash re-sends at most the one mail in hand (docs/outgoing.md).
CLAIM_BATCH = 5
# Through a transport that recognises its own earlier copies (the Maildir) a crash re-sends
# nothing, so a whole batch is recorded in one commit, and a larger one: the claim and the
# record cost more than writing a mail to a local folder (well inside one LEASE).
DEDUPLICATED_BATCH = 50


def instance_id(config: Config, role: str = "serve") -> str:
    """Who holds a lease: this machine and state directory (one `serve` each), or a one-off run."""
    suffix = "serve" if role == "serve" else f"{role}:{os.getpid()}"
    return f"{socket.gethostname()}:{config.state_dir}:{suffix}"


class OutboxWorker:
    """Sends due outbox mail; `transport` and `clock` default to the config's and the real time."""

    def __init__(self, *, db: Database, config: Config, transport: Transport | None = None,
                 clock: Callable[[], datetime] = utcnow, owner: str | None = None,
                 on_progress: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.config = config
        self.transport = transport or transport_for(config)
        self.clock = clock
        self.owner = owner or instance_id(config, "run")
        self._batch = DEDUPLICATED_BATCH if deduplicates(self.transport) else CLAIM_BATCH
        # The transport's `send`, or within a batch the one that keeps its connection open.
        self._send = self.transport.send
        # Called after each claimed batch (the sender process's pulse, while a long backlog goes out).
        self.on_progress = on_progress

    def resume(self) -> int:
        """At start: the mails this instance had claimed when it died are due again now."""
        count = outbox.resume(self.db, self.owner, self.clock())
        if count:
            log.warning("%d mail(s) claimed before a crash are due again now; the one being sent at the "
                        "crash may go out twice through a relay (docs/outgoing.md)", count)
        return count

    def drain(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Try every mail due now, once each; returns how many were sent."""
        sent = 0
        # A failed mail is pushed into the future, so each row is claimed at most once per drain.
        while not should_stop():
            rows = outbox.claim(self.db, self.clock(), self._batch, self.owner)
            sent += self._deliver_batch(rows, should_stop)
            self.on_progress()
            if len(rows) < self._batch:
                # Nothing else was due: mail queued since then comes with a wake-up of its own.
                break
        return sent

    def _deliver_batch(self, rows: list[Outbox], should_stop: Callable[[], bool]) -> int:
        """Send each claimed mail and record it (at once, or with its batch); give back the untried ones at a stop."""
        # A re-sent copy lands on the earlier one (the Maildir): nothing can go out twice, so
        # the batch is recorded in one commit instead of one per mail.
        together = deduplicates(self.transport)
        # One connection to the relay for the batch (a handshake, TLS and login per mail cost more
        # than the mail); each mail is still recorded the moment the relay has answered.
        try:
            with batch(self.transport) as self._send:
                delivered = self._send_each(rows, should_stop, record_each=not together)
        finally:
            self._send = self.transport.send
        if together:
            self._record(delivered)
        return len(delivered)

    def _send_each(self, rows: list[Outbox], should_stop: Callable[[], bool],
                   record_each: bool) -> list[tuple[Outbox, str]]:
        delivered: list[tuple[Outbox, str]] = []
        for index, row in enumerate(rows):
            if should_stop():
                outbox.give_back(self.db, [r.id for r in rows[index:]], self.clock())
                break
            where = self._deliver(row)
            if where is None:
                continue
            delivered.append((row, where))
            if record_each:
                # Right after the relay's answer: the window for a second copy is this commit.
                self._record(delivered[-1:])
        return delivered

    def _record(self, delivered: list[tuple[Outbox, str]]) -> None:
        if not delivered:
            return
        # What the transport wrote must be on disk before the database says it went out.
        flush(self.transport)
        outbox.mark_sent(self.db, [row.id for row, _ in delivered], self.clock())
        for row, where in delivered:
            log.info("outbox #%d %s to %s sent via %s", row.id, row.kind, row.recipient, where)

    def _deliver(self, row: Outbox) -> str | None:
        """Hand one mail to the transport; returns where it went, or None after recording the failure."""
        try:
            return self._send(row.mail_from, row.recipient, row.content)
        except PermanentFailure as error:
            outbox.mark_failed(self.db, row.id, str(error))
            log.error("outbox #%d %s to %s failed for good: %s", row.id, row.kind, row.recipient, error)
        except TemporaryFailure as error:
            again = outbox.mark_retry(self.db, row, self.clock(), str(error), self.config.outbox.max_attempts)
            log.warning("outbox #%d %s to %s not sent (attempt %d)%s: %s", row.id, row.kind, row.recipient,
                        row.attempts, "; will retry" if again else "; giving up", error)
        return None

