"""An agent's SMS answer (`OK DYN-000123`) acknowledges a ticket's escalation: its ladder stops.

The gateway posts each incoming SMS to our webhook (`service/sms_webhook.py`); this module reads
the sender and text from the fields gateways use (SMSAPI `sms_from`/`sms_text`, Twilio
`From`/`Body`, or `from`/`text`), accepts only numbers in `[escalation.phones]`, and records the
acknowledgement as a row of the ticket's steps (`ack`). Steps of a clock cycle that started
before it are then not run, as if their clock were met; a later cycle (a new customer message)
escalates again. The SMS is not an answer to the customer: the SLA clocks do not stop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from mailbridge.config.escalation import e164
from mailbridge.config.models import Config
from mailbridge.store import repo
from mailbridge.store.db import Database
from mailbridge.store.models import EscalationStep

_FROM = ("From", "sms_from", "from", "msisdn", "sender")
_TEXT = ("Body", "sms_text", "text", "message", "body")
# "OK DYN-000123", "ok dyn-123", "Ok, [DYN-000123]": a word of assent, then the code.
_ACK = re.compile(r"^\s*(ok|okay|ack|tak|s[ií]|yes)\b[\s,:.!-]*\[?([A-Za-z]{2,6})-?0*(\d{1,9})\]?", re.IGNORECASE)
ACK_LADDER = "ack"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the webhook answers: an HTTP status and one line."""

    status: int
    text: str


def handle(fields: Mapping[str, str], *, db: Database, config: Config, now: datetime) -> Answer:
    """Read one incoming SMS and, when it is an agent's `OK <code>`, stop that ticket's ladder."""
    sender, text = _first(fields, _FROM), _first(fields, _TEXT)
    if not sender or text is None:
        return Answer(400, "no sender or text in the request")
    try:
        number = e164(sender if sender.startswith("+") else "+" + sender.lstrip("0"))
    except ValueError:
        return Answer(200, f"ignored: {sender!r} is not a phone number")
    agent = next((address for address, phone in config.escalation.phones.items() if phone == number), None)
    if agent is None:
        return Answer(200, f"ignored: {number} is not in [escalation.phones]")
    match = _ACK.match(text)
    if not match:
        return Answer(200, "ignored: not an acknowledgement (OK DYN-000123)")
    code = f"{match.group(2).upper()}-{int(match.group(3)):06d}"
    return Answer(200, acknowledge(code, agent=agent, number=number, text=text, db=db, now=now))


def acknowledge(code: str, *, agent: str, number: str, text: str, db: Database, now: datetime) -> str:
    """Record the acknowledgement and have the tick look at the ticket again; the line to answer."""
    with db.session() as session:
        ticket = repo.ticket_by_code(code, session=session)
        if ticket is None:
            return f"ignored: no ticket {code}"
        stamp = now.isoformat(timespec="microseconds")
        session.add(EscalationStep(ticket_id=ticket.id, key=f"{ACK_LADDER}@{stamp}", ladder=ACK_LADDER, step=0,
                                   clock="sms", due_at=now, ran_at=now, state="done",
                                   detail=[f"acknowledged by {agent} ({number}) by SMS: {_one_line(text)}"]))
        ticket.escalate_at = now
        session.add(ticket)
    return f"acknowledged {code}: its escalation stops"


def _first(fields: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((fields[name].strip() for name in names if fields.get(name) is not None), None)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:160]
