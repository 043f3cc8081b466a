"""The immutable structured message that parsing produces and every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

AUTO_KINDS = ("auto-reply", "bounce", "delay", "list", "complaint", "loop", "other-auto")


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: display name (decoded, may be empty) and address (as sent, stripped)."""

    name: str
    address: str

    def to_json(self) -> dict:
        return {"name": self.name, "address": self.address}


@dataclass(frozen=True, slots=True)
class Attachment:
    """A non-body MIME part; size and sha256 are over the decoded bytes in `payload`."""

    filename: str | None
    content_type: str
    size: int
    sha256: str
    inline: bool
    content_id: str | None
    payload: bytes = field(repr=False, compare=False)

    def to_json(self) -> dict:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "inline": self.inline,
            "content_id": self.content_id,
        }


@dataclass(frozen=True, slots=True)
class AutoVerdict:
    """Why a message is automatic: `kind` is one of AUTO_KINDS, `reason` names the signal."""

    kind: str
    reason: str

    def to_json(self) -> dict:
        return {"kind": self.kind, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class BounceRecipient:
    """One failed (or delayed) recipient of a delivery status notification."""

    address: str
    status: str | None
    action: str | None

    def to_json(self) -> dict:
        return {"address": self.address, "status": self.status, "action": self.action}


@dataclass(frozen=True, slots=True)
class Bounce:
    """What a DSN says: who failed, whether for good, and which message came back."""

    permanent: bool
    recipients: tuple[BounceRecipient, ...]
    original_message_id: str | None

    def to_json(self) -> dict:
        return {
            "permanent": self.permanent,
            "recipients": [r.to_json() for r in self.recipients],
            "original_message_id": self.original_message_id,
        }


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A message as mailbridge understands it; `raw` is kept byte for byte."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    reply_text: str
    attachments: tuple[Attachment, ...]
    auto: AutoVerdict | None
    bounce: Bounce | None
    defects: tuple[str, ...]
    language: str | None
    # Every header as (name, decoded value), in order; later stages (classification rules,
    # Received dates, Delivered-To) read them here instead of re-parsing the raw bytes.
    headers: tuple[tuple[str, str], ...] = ()
    raw: bytes = field(default=b"", repr=False, compare=False)

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), decoded, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        """Every header of that name (case-insensitive), decoded, in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def to_json(self, file: str | None = None) -> dict:
        """The `mailbridge parse --json` object: exactly the documented fields."""
        return {
            "file": file,
            "message_id": self.message_id,
            "in_reply_to": list(self.in_reply_to),
            "references": list(self.references),
            "from": self.from_.to_json() if self.from_ else None,
            "to": [a.to_json() for a in self.to],
            "cc": [a.to_json() for a in self.cc],
            "reply_to": [a.to_json() for a in self.reply_to],
            "subject": self.subject,
            "date": self.date.isoformat() if self.date else None,
            "text": self.text,
            "html": self.html,
            "reply_text": self.reply_text,
            "attachments": [a.to_json() for a in self.attachments],
            "auto": self.auto.to_json() if self.auto else None,
            "bounce": self.bounce.to_json() if self.bounce else None,
            "defects": list(self.defects),
            "language": self.language,
        }
