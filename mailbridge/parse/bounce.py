"""Turn a delivery status notification (RFC 3464 or a plain-text MTA bounce) into a Bounce.

`parse_bounce(msg)` takes a message parsed with `policy=compat32` and returns None for anything
that is not a failure or delay notice, success DSNs included. It never raises on malformed input.
"""

from __future__ import annotations

import email.message
import email.parser
import email.utils
import html
import re

from mailbridge.parse.bounce_dsn import STATUS_RE, dsn_recipients, is_failure
from mailbridge.parse.charset import is_text_charset
from mailbridge.parse.bounce_ses import ses_bounce, ses_notification
from mailbridge.parse.bounce_returned import after_marker, notice_part
from mailbridge.parse.bounce_text import (
    DELAY_RE,
    FAILURE_REPLY_RE,
    PERMANENT_RE,
    RETRYING_RE,
    looks_like_bounce,
    text_recipients,
)
from mailbridge.parse.headers import DOT_ATOM, decode_header
from mailbridge.parse.lazy_re import lazy_compile
from mailbridge.parse.model import Bounce, BounceRecipient

REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status", "text/delivery-status")
RETURNED_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers")
MESSAGE_ID_LINE_RE = lazy_compile(r"^\s*Message-I[dD]\s*:\s*<?([^<>\s]{1,250})>?", re.MULTILINE)
TAG_RE = lazy_compile(r"<[^<>]{0,2000}>")
LIST_ADDRESS_RE = lazy_compile(r"[\w.+-]{1,64}@[\w.-]{1,253}")


def parse_bounce(msg: email.message.Message, body: str | None = None,
                 subject: str | None = None) -> Bounce | None:
    """The failed recipients, permanence and original Message-ID of a DSN, or None.

    `body` is `body_text(msg)` and `subject` is `decoded(msg.get("Subject", ""))` when the
    caller has them already (decoding is the costly part).
    """
    try:
        return _parse(msg, body_text(msg) if body is None else body, subject)
    except Exception:  # noqa: BLE001 - a malformed report must never stop the parse.
        return None


def _parse(msg: email.message.Message, body: str, subject: str | None = None) -> Bounce | None:
    reports = [p for p in own_parts(msg) if p.get_content_type() in REPORT_TYPES]
    if notification := ses_notification(body):
        return ses_bounce(notification)
    if reports:
        found = [r for part in reports for r in dsn_recipients(text_of(part))]
        if found and not any(is_failure(r) for r in found):
            return None  # A success DSN: delivered, relayed or expanded everywhere.
        failed = [r for r in found if is_failure(r)]
        if failed:
            return make_bounce(failed, original_message_id(msg, body))
    # A report whose delivery-status part was lost is still a DSN; Exim names the failed
    # addresses in X-Failed-Recipients, on bounces only.
    declared = is_dsn_report(msg) or msg.get("X-Failed-Recipients")
    if subject is None:
        subject = decoded(msg.get("Subject", ""))
    if not reports and not declared and not looks_like_bounce(
        subject=subject,
        sender=sender_address(msg),
        envelope=envelope_sender(msg),
        null_sender=has_null_sender(msg),
        body=body,
    ):
        return None
    delayed = is_delay_notice(subject, body)
    exclude = {a.lower() for a in header_addresses(msg)}
    notice = notice_part(body)
    recipients = text_recipients(notice, exclude, delayed=delayed, returned=returned_recipients(msg, body))
    return make_bounce(recipients, original_message_id(msg, body), delayed=delayed)


def is_dsn_report(msg: email.message.Message) -> bool:
    """True for `multipart/report; report-type=delivery-status` (RFC 3464), whatever it holds."""
    if msg.get_content_type() != "multipart/report":
        return False
    return str(msg.get_param("report-type") or "").lower() == "delivery-status"


def make_bounce(
    recipients: list[BounceRecipient], message_id: str | None, *, delayed: bool = False
) -> Bounce:
    """A Bounce that is permanent when any recipient failed with a 5.x.x status or 5xx reply,
    or when a recipient's Action is `failed` with no status to say otherwise."""
    failed_hard = any(
        r.action != "delayed" and ((r.status or "").startswith("5") or (r.action == "failed" and not r.status))
        for r in recipients
    )
    no_codes = not any(r.status for r in recipients)
    permanent = failed_hard or (no_codes and not delayed)
    return Bounce(permanent=permanent, recipients=tuple(recipients), original_message_id=message_id)


def own_parts(msg: email.message.Message):
    """Every part of this message, not descending into attached messages (the returned copy)."""
    yield msg
    if msg.get_content_maintype() == "message" or not msg.is_multipart():
        return
    payload = msg.get_payload()
    for part in payload if isinstance(payload, list) else []:
        if isinstance(part, email.message.Message):
            yield from own_parts(part)


def notice_text(msg: email.message.Message) -> str | None:
    """`body_text`, or None when the message is too broken to read (the checks then do without)."""
    try:
        return body_text(msg)
    except Exception:  # noqa: BLE001 - a malformed notice must never stop the parse.
        return None


def body_text(msg: email.message.Message) -> str:
    """All readable text of the notice itself (not of the returned message), joined."""
    texts = []
    for part in own_parts(msg):
        ctype = part.get_content_type()
        # A multipart whose boundary was lost holds its children as one string: read it as text.
        broken = part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), str)
        if broken or (part.get_content_maintype() == "text" and ctype not in REPORT_TYPES + RETURNED_TYPES):
            texts.append(text_of(part))
    return "\n".join(texts)


def text_of(part: email.message.Message) -> str:
    """A part's content as text, whatever its transfer encoding or (wrong) charset."""
    payload = part.get_payload()
    if isinstance(payload, list):
        # compat32 parses delivery-status blocks into header-only messages; rebuild the text.
        return "\n\n".join(
            "\n".join(f"{k}: {v}" for k, v in block.items()) for block in payload
            if isinstance(block, email.message.Message)
        )
    raw = part.get_payload(decode=True) or b""
    text = decode_bytes(raw, part.get_content_charset() or "utf-8")
    if part.get_content_subtype() == "html":
        text = html.unescape(TAG_RE.sub(" ", re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_bytes(raw: bytes, charset: str) -> str:
    """Declared charset, then UTF-8, then latin-1 (which always succeeds)."""
    for name in (charset, "utf-8"):
        if not is_text_charset(name):
            continue
        try:
            return raw.decode(name)
        except UnicodeError:
            continue
    return raw.decode("latin-1")


def decoded(value) -> str:
    """A header value as text: RFC 2047 words decoded, raw 8-bit bytes recovered."""
    try:
        return decode_header(str(value), [], "subject")
    except Exception:  # noqa: BLE001 - a broken header is only a weaker signal.
        return str(value)


def sender_address(msg: email.message.Message) -> str:
    """The From address (lower case); the display name when the address is empty ("MAILER-DAEMON <>")."""
    value = str(msg.get("From", ""))
    if plain := _plain_address(value):
        return plain.lower()
    name, address = email.utils.parseaddr(value)
    return (address or name).lower()


def has_null_sender(msg: email.message.Message) -> bool:
    """True when the envelope sender was `<>`, the mark of a notification (RFC 5321 4.5.5)."""
    return any(str(v).strip() in ("<>", "") for v in msg.get_all("Return-Path", [])) or str(
        msg.get("From", "")
    ).rstrip().endswith("<>")


def envelope_sender(msg: email.message.Message) -> str:
    """The Return-Path address (lower case), or empty."""
    value = str(msg.get("Return-Path", ""))
    return (_plain_address(value) or email.utils.parseaddr(value)[1]).lower()


# The shapes most From and Return-Path values have: "Name <local@domain>", "<local@domain>" or
# "local@domain", with dot-atoms on both sides and a name without specials, quotes or comments.
# email.utils.parseaddr returns their address unchanged, in every Python version, after a
# character-by-character walk that cost 15-20 us a header; everything else still takes it.
_PLAIN_ADDRESS = re.compile(rf'[ \t\r\n]*(?:[^()<>@,;:\\".\[\]]*<({DOT_ATOM}@{DOT_ATOM})>|({DOT_ATOM}@{DOT_ATOM}))[ \t\r\n]*')


def _plain_address(value: str) -> str | None:
    """email.utils.parseaddr(value)[1] for a value of the plain shapes above, else None."""
    match = _PLAIN_ADDRESS.fullmatch(value)
    return (match.group(1) or match.group(2)) if match else None


def header_addresses(msg: email.message.Message) -> list[str]:
    """Addresses in the notice's own headers: its sender, the original sender it returns to,
    and the list it came through (a list server's notice names its own addresses in prose)."""
    fields = [str(v) for name in ("From", "To", "Cc", "Reply-To", "Return-Path", "Sender", "Errors-To")
              for v in msg.get_all(name, [])]
    found = [address for _, address in email.utils.getaddresses(fields) if address]
    for name in ("List-Post", "List-Owner", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Id"):
        found += LIST_ADDRESS_RE.findall(str(msg.get(name, "")))
    return found


def is_delay_notice(subject: str, body: str) -> bool:
    """A warning that delivery is still being tried, not a final failure.

    The subject decides first ("failed", "returned" is final); then a notice that says the MTA
    keeps trying is a delay, one that says the failure is permanent (or gives 5.x.x) is not, and
    only then do weaker words ("delayed", "temporary", "warning") count.
    """
    if re.search(r"(?i)\b(?:fail|failure|failed|undeliver|returned|returning|permanent)", subject):
        return False
    notice = notice_part(body)[:5000]
    if RETRYING_RE.search(subject) or RETRYING_RE.search(notice):
        return True
    if PERMANENT_RE.search(notice):
        return False
    # Only transient codes (4.x.x, 4xx) and no word of a final failure: still being tried.
    codes = [m.group(0) for m in STATUS_RE.finditer(notice)] + FAILURE_REPLY_RE.findall(notice)
    if codes and all(code.startswith("4") for code in codes):
        return True
    return bool(DELAY_RE.search(subject) or DELAY_RE.search(notice))


def returned_parts(msg: email.message.Message):
    """The parts that carry the returned original message or its headers."""
    return [p for p in own_parts(msg) if p.get_content_type() in RETURNED_TYPES]


def returned_headers(part: email.message.Message) -> email.message.Message | None:
    """Headers of a returned message part, as a Message."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
        return payload[0]
    text = text_of(part)
    return email.parser.Parser().parsestr(text, headersonly=True) if text else None


def original_message_id(msg: email.message.Message, body: str) -> str | None:
    """The Message-ID of the returned message, from its attached copy or the notice text."""
    for part in returned_parts(msg):
        headers = returned_headers(part)
        if headers is not None and headers.get("Message-ID"):
            return email.utils.unquote(str(headers["Message-ID"]).strip()).strip("<> ") or None
    returned = body[len(notice_part(body)):] or body
    match = MESSAGE_ID_LINE_RE.search(returned)
    return match.group(1) if match else None


def returned_text_headers(body: str) -> email.message.Message | None:
    """Headers of a returned message pasted into the notice text after its marker line."""
    rest = after_marker(body)
    if not rest.strip():
        return None
    return email.parser.Parser().parsestr(rest.lstrip("\n")[:50000], headersonly=True)


def returned_recipients(msg: email.message.Message, body: str) -> list[str]:
    """The To addresses of the returned message, for a notice that names nobody as failed."""
    candidates = [returned_headers(part) for part in returned_parts(msg)]
    candidates.append(returned_text_headers(body))
    for headers in candidates:
        if headers is not None and headers.get_all("To"):
            addresses = email.utils.getaddresses([str(v) for v in headers.get_all("To", [])])
            return [a for _, a in addresses if "@" in a][:50]
    return []
