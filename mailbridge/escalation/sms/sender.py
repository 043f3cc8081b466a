"""Deliver the due SMS through the provider: claim, send outside any transaction, record the result.

A crash after the claim leaves the row leased: after the lease it is due again and sent with the
same key. A crash after the gateway took it and before the record is the one window where an SMS
can go out twice; `smsapi` (idx + check_idx) and `log` close it, `http` does when the gateway
honours the idempotency header, `twilio` and `command` cannot (docs/sla.md says so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbridge.config.models import Config
from mailbridge.escalation.sms import queue
from mailbridge.escalation.sms.base import Outgoing, Permanent, Provider, Temporary
from mailbridge.store.db import Database
from mailbridge.store.models import Sms

log = logging.getLogger(__name__)


@dataclass
class Delivered:
    """What one pass did: SMS sent, retried later, failed for good."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


# A gateway that failed this many SMS in a row is down: the rest wait for the next pass, instead of
# each costing a timeout now (and keeping `serve` from stopping that long).
GIVE_UP_AFTER = 3


def deliver_due(*, db: Database, config: Config, provider: Provider, clock: Callable[[], datetime],
                limit: int = 1000, stop: Callable[[], bool] = lambda: False) -> Delivered:
    """Send every SMS due now (up to `limit`), each once, until `stop()` or the gateway seems down."""
    done = Delivered()
    lease = timedelta(seconds=config.sms.lease_seconds)
    failing = 0
    while limit > 0 and not stop() and failing < GIVE_UP_AFTER:
        # One at a time: the lease (a few timeouts) must cover the send of every row it holds.
        rows = queue.claim(db, clock(), lease=lease, limit=1)
        if not rows:
            return done
        limit -= len(rows)
        retried = done.retried
        for row in rows:
            _send(row, db=db, config=config, provider=provider, clock=clock, done=done)
        failing = failing + 1 if done.retried > retried else 0
    return done


def _send(row: Sms, *, db: Database, config: Config, provider: Provider, clock: Callable[[], datetime],
          done: Delivered) -> None:
    ticket, step = queue.labels(db, row)
    try:
        receipt = provider.send(Outgoing(row.intent, row.recipient, row.text, ticket, step))
    except Permanent as error:
        queue.mark_failed(db, row, str(error))
        done.failed += 1
        log.error("SMS to %s for %s failed for good: %s", row.recipient, ticket or row.intent, error)
    except Temporary as error:
        if queue.mark_retry(db, row, clock(), str(error), config.sms.max_attempts):
            done.retried += 1
            log.warning("SMS to %s for %s not sent yet (attempt %d): %s", row.recipient, ticket or row.intent,
                        row.attempts, error)
        else:
            done.failed += 1
            log.error("SMS to %s for %s failed after %d attempts: %s", row.recipient, ticket or row.intent,
                      row.attempts, error)
    else:
        note = "sent before (idempotent retry)" if receipt.duplicate else ""
        queue.mark_sent(db, row, clock(), receipt.provider_id, note)
        done.sent += 1
        log.info("SMS to %s for %s sent through %s", row.recipient, ticket or row.intent, provider.name)
