"""Build the MIME bytes of a mail we send, with every header the design asks for (pure).

From is the queue (with its display name), Reply-To the queue's plus-address carrying the
ticket's signed token (so a reply threads even when the client drops References), the
Message-ID is ours (signed, made by the caller so it is fixed before sending), the subject
names the ticket code, and automatic mail carries RFC 3834 `Auto-Submitted` plus
`X-Auto-Response-Suppress`, `Precedence: bulk` and our `X-Loop`.

Values that come from mail (subjects, display names, addresses, Message-IDs) can never add a
header: line breaks and other control characters in them become spaces, addresses and
Message-IDs that are not plain ones are refused, and `email.policy.SMTP` writes the result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from mailbridge.config.models import QueueConfig
from mailbridge.templates import Rendered
from mailbridge.tokens import ticket_token

# C0 controls, DEL and the Unicode line and paragraph separators: none belongs in a header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+\.[^\s@<>()\[\],;:\"\\]+")
_MESSAGE_ID = re.compile(r"[^\s<>()\[\],;:\"\\]+@[^\s<>()\[\],;:\"\\]+")
# A References header lists the thread from its start; a long thread keeps its first and last ids.
MAX_REFERENCES = 20
AUTO_SUBMITTED = ("auto-replied", "auto-generated")


class UnsafeAddress(ValueError):
    """An address from mail that cannot be written safely into a header (we do not send to it)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Everything a mail needs besides its rendered text: who, which ticket, which thread."""

    queue: QueueConfig
    to_address: str
    to_name: str
    ticket_code: str
    ticket_id: int
    message_id: str
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    # "auto-replied" (an answer to a mail), "auto-generated" (a notice), or None (a person's mail).
    auto_submitted: str | None = "auto-replied"


def compose(rendered: Rendered, outgoing: Outgoing, *, secret: bytes, now: datetime) -> bytes:
    """The mail as bytes with CRLF line ends, ready for SMTP or a Maildir."""
    message = EmailMessage(policy=policy.SMTP)
    queue = outgoing.queue
    message["From"] = Address(one_line(queue.label), addr_spec=queue.address)
    message["To"] = Address(one_line(outgoing.to_name), addr_spec=safe_address(outgoing.to_address))
    message["Reply-To"] = Address(one_line(queue.label), addr_spec=reply_address(queue.address, outgoing.ticket_id, secret))
    message["Subject"] = subject_with_code(rendered.subject, outgoing.ticket_code)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{safe_message_id(outgoing.message_id)}>"
    _thread_headers(message, outgoing)
    if outgoing.auto_submitted is not None:
        _automatic_headers(message, outgoing.auto_submitted, queue.address)
    message["X-Mailbridge-Ticket"] = outgoing.ticket_code
    message.set_content(rendered.text, charset="utf-8", cte="quoted-printable")
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


def _thread_headers(message: EmailMessage, outgoing: Outgoing) -> None:
    parent = _valid_ids([outgoing.in_reply_to] if outgoing.in_reply_to else [])
    if parent:
        message["In-Reply-To"] = f"<{parent[0]}>"
    refs = list(dict.fromkeys(_valid_ids([*outgoing.references, *parent])))
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1):]]
    if refs:
        message["References"] = " ".join(f"<{ref}>" for ref in refs)


def _automatic_headers(message: EmailMessage, auto_submitted: str, loop_address: str) -> None:
    if auto_submitted not in AUTO_SUBMITTED:
        raise ValueError(f"Auto-Submitted must be one of {AUTO_SUBMITTED}: {auto_submitted!r}")
    message["Auto-Submitted"] = auto_submitted
    # Exchange and Outlook: send no out-of-office, delivery or read receipts back to this mail.
    message["X-Auto-Response-Suppress"] = "All"
    message["Precedence"] = "bulk"
    message["X-Loop"] = loop_address


def one_line(value: str) -> str:
    """A header value from mail as one line: control characters (CR, LF, NUL…) become spaces."""
    return " ".join(_CONTROL.sub(" ", value or "").split())


def safe_address(address: str) -> str:
    """A plain `local@domain` address, or UnsafeAddress (a header value must never come of it)."""
    plain = (address or "").strip()
    if not _ADDRESS.fullmatch(plain) or len(plain) > 320:
        raise UnsafeAddress(f"not an address we can write to: {address!r}")
    return plain


def safe_message_id(message_id: str) -> str:
    """A Message-ID without brackets, refused when it holds anything a header must not."""
    plain = message_id.strip().strip("<>")
    if not _MESSAGE_ID.fullmatch(plain) or len(plain) > 900:
        raise ValueError(f"not a Message-ID: {message_id!r}")
    return plain


def _valid_ids(ids: Sequence[str]) -> list[str]:
    """The ids that are well formed (others' broken References are left out, not copied)."""
    valid = []
    for value in ids:
        plain = value.strip().strip("<>")
        if _MESSAGE_ID.fullmatch(plain) and len(plain) <= 900:
            valid.append(plain)
    return valid


def reply_address(queue_address: str, ticket_id: int, secret: bytes) -> str:
    """`pomoc+<signed token>@example.com`: replies to it thread onto the ticket by the token."""
    local, _, domain = queue_address.rpartition("@")
    return f"{local}+{ticket_token(ticket_id, secret)}@{domain}"


def subject_with_code(subject: str, code: str) -> str:
    """`[DYN-000123] subject`, unless the subject already has that code in brackets."""
    clean = one_line(subject)
    if f"[{code.upper()}]" in clean.upper():
        return clean
    return f"[{code}] {clean}".strip()
