"""Read the per-recipient fields of an RFC 3464 delivery-status report into BounceRecipients."""

from __future__ import annotations

import re

from mailbridge.parse.address_forms import normal_address
from mailbridge.parse.lazy_re import lazy_compile
from mailbridge.parse.model import BounceRecipient

# A DSN status code (RFC 3463): class 2, 4 or 5, then subject and detail. The look-arounds keep
# it from matching inside IP addresses ("10.5.2.153") and version numbers.
STATUS_RE = lazy_compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
# An SMTP reply code (RFC 5321) as it appears in diagnostics: "550 ...", "said: 550-...", "#550".
REPLY_CODE_RE = lazy_compile(r"(?<![\w.#-])#?([245]\d\d)(?=[ \-]|$)", re.MULTILINE)
FIELD_RE = lazy_compile(r"^([A-Za-z][A-Za-z0-9-]{0,60})\s*:\s?(.*)$")
SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
RECIPIENT_FIELDS = ("original-recipient", "final-recipient", "x-actual-recipient")


def parse_fields(text: str) -> list[list[tuple[str, str]]]:
    """Split report text into blocks (separated by blank lines) of (lower name, value) fields."""
    blocks: list[list[tuple[str, str]]] = [[]]
    for line in re.split(r"\r\n|\r|\n", text):
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
        elif line[0] in " \t" and blocks[-1]:
            # A folded continuation line belongs to the field above it.
            name, value = blocks[-1][-1]
            blocks[-1][-1] = (name, f"{value} {line.strip()}")
        elif match := FIELD_RE.match(line):
            blocks[-1].append((match.group(1).lower(), match.group(2).strip()))
    return [block for block in blocks if block]


def recipient_records(blocks: list[list[tuple[str, str]]]) -> list[dict[str, str]]:
    """Group fields into one dict per recipient.

    A record ends at a block boundary, and also when a field it already holds comes again:
    broken reports list several recipients without the blank lines between them.
    """
    records: list[dict[str, str]] = []
    for block in blocks:
        current: dict[str, str] = {}
        for name, value in block:
            if name in current and name in RECIPIENT_FIELDS + ("action", "status"):
                records.append(current)
                current = {}
            current.setdefault(name, value)
        records.append(current)
    return [r for r in records if any(name in r for name in RECIPIENT_FIELDS)]


def clean_address(value: str) -> str:
    """`rfc822; <user@example.com>` → `user@example.com`; X.400 and Exchange forms converted."""
    return normal_address(value)


def best_status(record: dict[str, str]) -> str | None:
    """The Status field, made more specific by the diagnostic when the field is vague (X.0.0)."""
    declared = STATUS_RE.search(record.get("status", ""))
    diagnostic = record.get("diagnostic-code", "")
    detailed = STATUS_RE.search(diagnostic)
    if declared:
        code = declared.group(0)
        vague = code.endswith(".0.0")
        if vague and detailed and detailed.group(1) == declared.group(1):
            return detailed.group(0)
        return code
    if detailed:
        return detailed.group(0)
    reply = REPLY_CODE_RE.search(diagnostic)
    return reply.group(1) if reply else None


def to_recipient(record: dict[str, str]) -> BounceRecipient | None:
    """One BounceRecipient from a record, or None when it names no usable address."""
    final = clean_address(record.get("final-recipient", ""))
    original = clean_address(record.get("original-recipient", ""))
    # The Original-Recipient is the address the sender wrote; a Final-Recipient that differs is
    # the alias or mailbox it was rewritten to, which the sender (and the ticket) never knew.
    address = original if "@" in original else final
    address = address or clean_address(record.get("x-actual-recipient", ""))
    if not address:
        return None
    action = record.get("action", "").split()[0].lower() if record.get("action") else None
    return BounceRecipient(address=address, status=best_status(record), action=action)


def dsn_recipients(report_text: str) -> list[BounceRecipient]:
    """Every recipient a delivery-status report names, successes included, in report order."""
    records = recipient_records(parse_fields(report_text))
    found = [to_recipient(record) for record in records]
    return [r for r in found if r is not None]


def is_failure(recipient: BounceRecipient) -> bool:
    """True unless the report says this recipient was delivered, relayed or expanded.

    A 2.x.x status counts as success too unless the action says otherwise, because some MTAs
    write non-standard actions such as "deliverable".
    """
    if recipient.action in SUCCESS_ACTIONS:
        return False
    success_status = (recipient.status or "").startswith("2")
    return not (success_status and recipient.action not in ("failed", "delayed"))
