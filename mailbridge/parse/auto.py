"""Decide whether a message was sent by a machine (auto-reply, bounce, list, report, loop).

`detect_auto` applies these rules in order; the first that matches gives the verdict:

1. a bounce from `parse_bounce` → `bounce` (a permanent or final failure) or `delay` (a warning
   that delivery is still being retried);
2. an ARF report (`multipart/report; report-type=feedback-report`, a `message/feedback-report`
   part, Microsoft's JMRP copy, or an Amazon SES complaint notification) → `complaint`;
3. any other report (a success DSN, a read receipt) → `other-auto`;
4. `Auto-Submitted` other than `no` (RFC 3834): `auto-replied` → `auto-reply`, anything else
   (`auto-generated`, `auto-notified`) → `other-auto`;
5. the `X-Autoreply` / `X-Autorespond` / `X-Auto-Response` family → `auto-reply`
   (`X-Auto-Response-Suppress` only asks others not to answer and proves nothing);
6. `Precedence: auto_reply` → `auto-reply`;
7. an out-of-office subject, in any of our customers' languages → `auto-reply`;
8. `X-MS-Exchange-Generated-Message-Source` (mail made by an Exchange agent) → `other-auto`;
9. `Precedence: list|bulk` → `list` (newsletters are bulk mail to a list of people),
   `Precedence: junk` → `other-auto`; a list manager's header (`LIST_HEADERS`: RFC 2919
   `List-Id`, the RFC 2369 `List-*` family, ezmlm's `Mailing-List`, fml's `X-MLServer` and
   `X-ML-Name`, Mailman's and Sympa's own) → `list`, with the header as the reason;
10. `X-Loop` or `X-MS-Exchange-Inbox-Rules-Loop` → `loop` (whether it is OUR loop is for a
    later stage to decide: the reason carries the header value);
11. the null sender (`Return-Path: <>`) or a mailer-daemon/postmaster sender → `other-auto`;
12. a no-reply sender → `other-auto`.

Auto-replies come before list signals because vacation programs often add `Precedence: bulk`,
and an auto-reply must never reopen a ticket, which is the stricter treatment.
"""

from __future__ import annotations

import email.message
import re

from mailbridge.parse.auto_subjects import out_of_office_phrase
from mailbridge.parse.bounce import body_text, has_null_sender, own_parts
from mailbridge.parse.bounce_ses import ses_notification
from mailbridge.parse.bounce_text import is_daemon_address
from mailbridge.parse.model import Address, AutoVerdict, Bounce

AUTORESPONDER_HEADERS = (
    "X-Autoreply", "X-Autorespond", "X-Autoresponse", "X-Auto-Response", "X-Autoresponder",
    "X-Autoreply-From", "X-Mail-Autoreply", "X-Vacation", "X-Auto-Reply", "X-AutoReply",
)
# List managers mark their posts and their own notices ("you are not a member", "loop alert")
# with these; List-Id comes first so that the usual reason names the list. Answering any of them
# starts a conversation with a robot or with every subscriber.
LIST_HEADERS = (
    "List-Id", "List-Unsubscribe", "List-Subscribe", "List-Post", "List-Help", "List-Owner",
    "Mailing-List", "X-Mailing-List", "X-MLServer", "X-ML-Name", "X-Mailman-Version", "X-Sympa-To",
)
NEGATIVE_VALUES = frozenset({"no", "false", "0", "off"})
NOREPLY_RE = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|noreply[-_.\w]*)$", re.I)


def detect_auto(
    msg: email.message.Message, *, subject: str, sender: Address | None, bounce: Bounce | None,
    body: str | None = None,
) -> AutoVerdict | None:
    """The first matching rule's verdict (see the module docstring), or None for a person.

    `body` is `body_text(msg)` when the caller has it already, so the text is decoded once.
    """
    sender_address = sender.address if sender else ""
    # The rules look up some thirty header names: one pass over the headers serves them all
    # (Message.get walks and lowers every name at each lookup).
    headers = first_values(msg)
    rules = (
        lambda: from_bounce(bounce),
        lambda: from_reports(msg, body),
        lambda: from_auto_submitted(headers),
        lambda: from_autoresponder_headers(headers),
        lambda: from_precedence(headers, ("auto_reply",)),
        lambda: from_subject(subject),
        lambda: from_exchange_agent(headers),
        lambda: from_precedence(headers, ("list", "bulk", "junk")) or from_list_headers(headers),
        lambda: from_loop_headers(headers),
        lambda: from_sender(msg, sender_address),
    )
    for rule in rules:
        if verdict := rule():
            return verdict
    return None


def first_values(msg: email.message.Message) -> dict[str, object]:
    """The first value of each header, by lower-case name: what msg.get(name) returns."""
    headers: dict[str, object] = {}
    for name, value in msg.items():
        headers.setdefault(name.lower(), value)
    return headers


def header(headers: dict[str, object], name: str) -> str | None:
    """A header's value (from `first_values`) as one stripped line, or None; never raises on odd bytes."""
    value = headers.get(name.lower())
    if value is None:
        return None
    return " ".join(str(value).split())[:200]


def from_bounce(bounce: Bounce | None) -> AutoVerdict | None:
    """A DSN: `delay` while some recipient is only delayed and none failed for good."""
    if bounce is None:
        return None
    failed = any(r.action == "failed" for r in bounce.recipients)
    if bounce.permanent or failed or not bounce.recipients:
        codes = ", ".join(sorted({r.status for r in bounce.recipients if r.status})) or "no status"
        return AutoVerdict("bounce", f"delivery status notification: failed ({codes})")
    return AutoVerdict("delay", "delivery status notification: delayed")


def from_reports(msg: email.message.Message, body: str | None = None) -> AutoVerdict | None:
    """ARF complaints, and any other machine report such as a success DSN or a read receipt."""
    report_type = (msg.get_param("report-type") or "") if msg.get_content_type() == "multipart/report" else ""
    types = {part.get_content_type() for part in own_parts(msg)}
    if str(report_type).lower() == "feedback-report" or "message/feedback-report" in types:
        return AutoVerdict("complaint", "ARF feedback report")
    if is_jmrp(msg):
        return AutoVerdict("complaint", "Microsoft JMRP complaint report")
    text = (body_text(msg) if body is None else body) if msg.get_content_maintype() == "text" else ""
    if notification := ses_notification(text) if text else None:
        kind = "complaint" if notification["notificationType"] == "Complaint" else "other-auto"
        return AutoVerdict(kind, f"Amazon SES notification: {notification['notificationType']}")
    if report_type:
        return AutoVerdict("other-auto", f"multipart/report; report-type={report_type}")
    if types & {"message/delivery-status", "message/disposition-notification"}:
        return AutoVerdict("other-auto", "delivery or disposition report part")
    return None


def is_jmrp(msg: email.message.Message) -> bool:
    """Microsoft's junk-mail reports return the message with an X-HmXmrOriginalRecipient header."""
    for part in own_parts(msg):
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, email.message.Message) and inner.get("X-HmXmrOriginalRecipient"):
                return True
    return False


def from_auto_submitted(headers: dict[str, object]) -> AutoVerdict | None:
    """RFC 3834: any value but `no` marks the message automatic."""
    value = header(headers, "Auto-Submitted")
    if not value or value.split(";")[0].strip().lower() == "no":
        return None
    keyword = value.split(";")[0].strip().lower()
    kind = "auto-reply" if keyword == "auto-replied" else "other-auto"
    return AutoVerdict(kind, f"Auto-Submitted: {value}")


def from_autoresponder_headers(headers: dict[str, object]) -> AutoVerdict | None:
    """The de-facto autoresponder headers set by vacation programs and hosting panels."""
    for name in AUTORESPONDER_HEADERS:
        value = header(headers, name)
        if value is not None and value.lower() not in NEGATIVE_VALUES:
            return AutoVerdict("auto-reply", f"{name}: {value}")
    return None


def from_precedence(headers: dict[str, object], wanted: tuple[str, ...]) -> AutoVerdict | None:
    """`Precedence:` (RFC 2076): auto_reply, list, bulk, junk."""
    value = (header(headers, "Precedence") or "").lower()
    if value not in wanted:
        return None
    kind = {"auto_reply": "auto-reply", "list": "list", "bulk": "list"}.get(value, "other-auto")
    return AutoVerdict(kind, f"Precedence: {value}")


def from_subject(subject: str) -> AutoVerdict | None:
    """An out-of-office phrase at the start of the subject."""
    phrase = out_of_office_phrase(subject or "")
    return AutoVerdict("auto-reply", f"subject: {phrase}") if phrase else None


def from_exchange_agent(headers: dict[str, object]) -> AutoVerdict | None:
    """Exchange marks mail its transport agents and mailbox rules generate themselves."""
    value = header(headers, "X-MS-Exchange-Generated-Message-Source")
    return AutoVerdict("other-auto", f"X-MS-Exchange-Generated-Message-Source: {value}") if value else None


def from_list_headers(headers: dict[str, object]) -> AutoVerdict | None:
    """List and newsletter mail, and the notices list managers send: the first of `LIST_HEADERS`."""
    for name in LIST_HEADERS:
        if value := header(headers, name):
            return AutoVerdict("list", f"{name}: {value}")
    return None


def from_loop_headers(headers: dict[str, object]) -> AutoVerdict | None:
    """Loop markers; the reason carries the value so a later stage can tell whether it is ours."""
    for name in ("X-Loop", "X-MS-Exchange-Inbox-Rules-Loop"):
        if value := header(headers, name):
            return AutoVerdict("loop", f"{name}: {value}")
    return None


def from_sender(msg: email.message.Message, address: str) -> AutoVerdict | None:
    """The null sender and machine-only sender addresses."""
    if has_null_sender(msg):
        return AutoVerdict("other-auto", "Return-Path: <>")
    if address and is_daemon_address(address.lower()):
        return AutoVerdict("other-auto", f"sender: {address}")
    if address and NOREPLY_RE.match(address.rpartition("@")[0]):
        return AutoVerdict("other-auto", f"no-reply sender: {address}")
    return None
