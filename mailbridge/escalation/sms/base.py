"""The one small interface every SMS provider implements, and what a send can end in.

    Exception
     └── SmsError
          ├── Permanent   the gateway refused this SMS for good (4xx, bad number, no credit):
          │               the step is failed and reported once, never retried
          └── Temporary   it may work later (5xx, timeout, connection refused): retried with backoff

A provider returns a `Receipt` when the gateway took the SMS (or says it took it before: an
idempotent retry), with the gateway's id and its answer for `mailbridge sms test`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SmsError(Exception):
    """An SMS the gateway did not take; the message is the gateway's answer in one line."""


class Permanent(SmsError):
    """Refused for good: retrying sends nothing more."""


class Temporary(SmsError):
    """Not taken now: try again later."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One SMS to send: `key` is its idempotency key (unique per SMS, the same on every retry)."""

    key: str
    to: str
    text: str
    ticket: str = ""
    step: str = ""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the gateway answered: its id for the SMS, and the answer itself (shown by `sms test`)."""

    provider_id: str
    answer: str
    duplicate: bool = False


class Provider(Protocol):
    """An SMS gateway: `send` one SMS or raise `Permanent` / `Temporary`."""

    name: str

    def send(self, message: Outgoing) -> Receipt: ...


def http_failure(status: int, body: str) -> SmsError:
    """4xx is the gateway refusing this request for good; 429 (slow down) and 5xx may pass later."""
    answer = f"HTTP {status}: {' '.join(body.split())[:300]}"
    return Temporary(answer) if status == 429 or status >= 500 else Permanent(answer)
