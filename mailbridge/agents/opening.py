"""Tickets an agent opens for a customer: `#fwd` (a forwarded mail) and `#phone` (a call), as the customer's first mail.

`customer_message` turns the agent's mail into the message the customer would have sent, which
the pipeline then opens the ticket with (classified, with its people, acknowledged):

- `#fwd` with the original attached as message/rfc822 (Thunderbird's "forward as attachment"):
  the attached message itself;
- `#fwd` with the original inline (Outlook, Gmail): the header block below the command
  ("From:/Sent:/To:/Subject:" in English, Polish or Spanish, after a rule or an "Original
  Message" / "Forwarded message" line) gives the sender, Cc and subject, the text below it the body;
- `#phone customer@address`: the customer at that address, the mail's subject, and the agent's
  summary (the text below the command) as the body.

A phone ticket must be confirmed by the customer in writing within `[agent_mail] phone_confirm_days`
working days of the queue's calendar (`confirm_due`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from mailbridge.agents.commands import Commands
from mailbridge.config.models import Config, QueueConfig
from mailbridge.config.sla import queue_calendar
from mailbridge.errors import MailbridgeError
from mailbridge.parse import parse_message
from mailbridge.parse import quote_markers as mk
from mailbridge.parse.model import Address, ParsedMessage
from mailbridge.parse.quotes import reply_part
from mailbridge.sla import bizcal, clockmath

_HEADER_LINE = re.compile(r"^[\s*>]*([^\W\d_][^:*]{0,30}?)\s*\*?:\s*\*?\s*(.*)$")
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_SUBJECT_KEYS = frozenset({"subject", "temat", "asunto", "betreff", "objet", "oggetto", "assunto", "onderwerp"})
_CC_KEYS = frozenset({"cc", "dw", "kopia", "kopie"})


class NoOriginal(MailbridgeError):
    """A `#fwd` mail in which no forwarded mail (attached or inline) can be found."""


def customer_message(message: ParsedMessage, commands: Commands) -> ParsedMessage:
    """The customer's first mail that the agent's `#fwd` or `#phone` mail stands for."""
    opening = commands.commands[0]
    if opening.name == "phone":
        summary = commands.body.strip() or message.subject
        return _as_customer(message, Address("", opening.argument), message.subject, summary, ())
    attached = _attached_original(message)
    if attached is not None:
        return attached
    return _inline_original(message, commands.body)


def _attached_original(message: ParsedMessage) -> ParsedMessage | None:
    for attachment in message.attachments:
        if attachment.content_type.lower() in ("message/rfc822", "message/global"):
            original = parse_message(attachment.payload)
            if original.from_ is not None and "@" in original.from_.address:
                return original
    return None


def _inline_original(message: ParsedMessage, text: str) -> ParsedMessage:
    lines = text.replace("\r\n", "\n").split("\n")
    start = next((i for i, line in enumerate(lines) if _key(line) in mk.FROM_KEYS and _ADDRESS.search(line)), None)
    if start is None:
        raise NoOriginal("#fwd: no forwarded mail found (attach it, or forward it inline with its From: line)")
    fields: dict[str, str] = {}
    end = start
    while end < len(lines) and _key(lines[end]) in mk.HEADER_KEYS | _SUBJECT_KEYS:
        key = _key(lines[end])
        fields.setdefault(key if key not in mk.FROM_KEYS else "from", _HEADER_LINE.match(lines[end]).group(2))
        end += 1
    sender = _address(fields["from"])
    subject = next((value for key, value in fields.items() if key in _SUBJECT_KEYS), message.subject)
    cc = tuple(_addresses(next((v for k, v in fields.items() if k in _CC_KEYS), "")))
    body = reply_part("\n".join(lines[end:])) or subject
    return _as_customer(message, sender, subject.strip(), body, cc)


def _key(line: str) -> str | None:
    match = _HEADER_LINE.match(line)
    return match.group(1).strip().casefold() if match else None


def _address(text: str) -> Address:
    found = _ADDRESS.search(text)
    address = found.group(0) if found else ""
    name = re.split(r"[<\[]", text, maxsplit=1)[0].strip().strip('"\'*').strip()
    return Address("" if name == address else name, address)


def _addresses(text: str) -> list[Address]:
    return [_address(part) for part in re.split(r"[;,](?![^<]*>)", text) if _ADDRESS.search(part)]


def _as_customer(message: ParsedMessage, sender: Address, subject: str, text: str, cc: tuple[Address, ...]) -> ParsedMessage:
    """The agent's mail as the customer's own: their address, the subject and text, no thread of the agent's."""
    return replace(message, from_=sender, to=(), cc=cc, reply_to=(), subject=subject, text=text, reply_text=text,
                   html=None, in_reply_to=(), references=(), attachments=(), auto=None, bounce=None)


def confirm_due(queue: QueueConfig, received_at: datetime, *, config: Config) -> datetime:
    """When the customer's written confirmation of a phone ticket is due: the close of the N-th working day."""
    calendar = queue_calendar(config, queue)
    deemed = clockmath.deemed_receipt(calendar, received_at)
    return bizcal.add_business_days(calendar, deemed, config.agent_mail.phone_confirm_days)
