"""Build the MIME bytes of a mail we send, with every header the design asks for (pure).

From is the queue (with its display name), Reply-To the queue's plus-address carrying the
ticket's signed token (so a reply threads even when the client drops References), the
Message-ID is ours (signed, made by the caller so it is fixed before sending), the subject
names the ticket code, and automatic mail carries RFC 3834 `Auto-Submitted` plus
`X-Auto-Response-Suppress`, `Precedence: bulk` and our `X-Loop`.

Values that come from mail (subjects, display names, addresses, Message-IDs) can never add a
header: line breaks and other control characters in them become spaces, addresses and
Message-IDs that are not plain ones are refused. The bytes are written here rather than by
`email.message.EmailMessage`: its header objects and refolding were a fifth of the cost of a
processed message, and mail of this fixed shape needs only RFC 2047 words, folding at spaces and
quoted-printable bodies (`binascii`), each kept under 78 columns (always under 998 bytes).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from itertools import chain
from urllib.parse import quote

from mailbridge.config.models import QueueConfig
from mailbridge.outgoing.templates import Rendered, one_line
from mailbridge.tokens import ticket_token

# C0 controls, DEL and the Unicode line and paragraph separators: none belongs in a header.
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
    # The From display name; None = the queue's label (an agent's relayed answer names the agent).
    from_name: str | None = None
    attachments: Sequence[OutAttachment] = ()
    # More visible recipients (name, address): the others a relayed answer also goes to.
    cc: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class OutAttachment:
    """A file sent with a mail: its name, type, bytes, and its Content-ID when HTML shows it inline."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


def compose(rendered: Rendered, outgoing: Outgoing, *, secret: bytes, now: datetime, body: bytes | None = None) -> bytes:
    """The mail as bytes with CRLF line ends, ready for SMTP or a Maildir.

    `body`: its `mime_body`, when that was made already (one for the copies of a mail to several people).
    """
    queue = outgoing.queue
    headers = [
        ("From", mailbox(queue.label if outgoing.from_name is None else outgoing.from_name, queue.address)),
        ("To", mailbox(outgoing.to_name, safe_address(outgoing.to_address))),
        *([("Cc", ", ".join(mailbox(name, safe_address(address)) for name, address in outgoing.cc))]
          if outgoing.cc else []),
        ("Reply-To", mailbox(queue.label, reply_address(queue.address, outgoing.ticket_id, secret))),
        ("Subject", encode_text(subject_with_code(rendered.subject, outgoing.ticket_code))),
        ("Date", _date(now)),
        ("Message-ID", f"<{safe_message_id(outgoing.message_id)}>"),
        *_thread_headers(outgoing),
        *_automatic_headers(outgoing.auto_submitted, queue.address),
        ("X-Mailbridge-Ticket", outgoing.ticket_code),
        ("MIME-Version", "1.0"),
    ]
    head = "".join(fold(name, value) for name, value in headers)
    return head.encode("ascii") + (mime_body(rendered, outgoing.attachments) if body is None else body)


def mime_body(rendered: Rendered, attachments: Sequence[OutAttachment]) -> bytes:
    """Everything after the mail's own headers: the same for each recipient of one rendered text."""
    if attachments:
        return _with_attachments(_body(rendered), attachments)
    return _body(rendered)


def _with_attachments(body: bytes, attachments: Sequence[OutAttachment]) -> bytes:
    """multipart/mixed: the body (text, or text and HTML) first, then each file in base64."""
    boundary = f"=_mb_mixed_{secrets.token_hex(12)}".encode("ascii")
    parts = [b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n', b"--", boundary, b"\r\n",
             body, b"\r\n"]
    for attachment in attachments:
        parts += [b"--", boundary, b"\r\n", _attachment_part(attachment), b"\r\n"]
    parts += [b"--", boundary, b"--\r\n"]
    return b"".join(parts)


def _attachment_part(attachment: OutAttachment) -> bytes:
    content_type = one_line(attachment.content_type).split(";")[0].strip().lower()
    if not _MIME_TYPE.fullmatch(content_type):
        content_type = "application/octet-stream"
    name = one_line(attachment.filename).replace("\\", "_").replace('"', "_") or "attachment"
    disposition = "inline" if attachment.inline else "attachment"
    if name.isascii():
        type_name, file_name = f'name="{name}"', f'filename="{name}"'
    else:
        # What Thunderbird writes: an RFC 2047 word in `name` for old readers, RFC 2231 in `filename`.
        type_name, file_name = f'name="{_encoded_words(name)}"', f"filename*=utf-8''{quote(name, safe='')}"
    head = fold("Content-Type", f"{content_type}; {type_name}") + fold("Content-Disposition", f"{disposition}; {file_name}")
    if attachment.content_id:
        head += fold("Content-ID", f"<{_plain_cid(attachment.content_id)}>")
    head += "Content-Transfer-Encoding: base64\r\n\r\n"
    return head.encode("ascii") + _base64_lines(attachment.data)


def _base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending in CRLF (as `base64.encodebytes` writes them, with LF)."""
    # Encoded whole and cut, rather than encoded 57 bytes at a time: a third less time for a large file.
    encoded = binascii.b2a_base64(data, newline=False)
    if not encoded:
        return b""
    # Cut by `struct` in blocks of lines, in C, rather than sliced line by line in Python (a
    # third less time for the cutting), and the rest, under one block, line by line.
    whole = len(encoded) - len(encoded) % _LINE_BLOCK.size
    lines = list(chain.from_iterable(_LINE_BLOCK.iter_unpack(memoryview(encoded)[:whole])))
    lines += [encoded[start:start + 76] for start in range(whole, len(encoded), 76)]
    # Joined by the line end, not each line copied once more with its own: a fifth less time.
    return b"\r\n".join(lines) + b"\r\n"


_LINE_BLOCK = struct.Struct("76s" * 64)


_MIME_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def _plain_cid(content_id: str) -> str:
    plain = one_line(content_id).strip("<>")
    if not re.fullmatch(r"[^\s<>()\[\],;:\"\\]{1,200}", plain):
        raise ValueError(f"not a Content-ID: {content_id!r}")
    return plain


def _date(now: datetime) -> str:
    # The mails a message causes (its acknowledgement, a notice to each agent) share one `now`:
    # formatted once. Keyed with the offset too, which the header shows: an instant written with
    # another offset is equal to `now`, and must not be given its text.
    return _date_with_offset(now, now.utcoffset())


@lru_cache(maxsize=16)
def _date_with_offset(now: datetime, offset: object) -> str:
    return format_datetime(now)


def _thread_headers(outgoing: Outgoing) -> list[tuple[str, str]]:
    headers = []
    parent = _valid_ids([outgoing.in_reply_to] if outgoing.in_reply_to else [])
    if parent:
        headers.append(("In-Reply-To", f"<{parent[0]}>"))
    refs = list(dict.fromkeys(_valid_ids([*outgoing.references, *parent])))
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1):]]
    if refs:
        headers.append(("References", " ".join(f"<{ref}>" for ref in refs)))
    return headers


def _automatic_headers(auto_submitted: str | None, loop_address: str) -> list[tuple[str, str]]:
    if auto_submitted is None:
        return []
    if auto_submitted not in AUTO_SUBMITTED:
        raise ValueError(f"Auto-Submitted must be one of {AUTO_SUBMITTED}: {auto_submitted!r}")
    # Exchange and Outlook: X-Auto-Response-Suppress asks for no out-of-office, delivery or read receipts.
    return [("Auto-Submitted", auto_submitted), ("X-Auto-Response-Suppress", "All"),
            ("Precedence", "bulk"), ("X-Loop", loop_address)]


def _body(rendered: Rendered) -> bytes:
    """The Content-Type header, the blank line and the body: plain text, or text and HTML alternatives."""
    if rendered.html is None:
        return _TEXT_PART.format(subtype="plain").encode("ascii") + b"\r\n" + _quoted_printable(rendered.text)
    # A boundary starting with "=_" can never occur in quoted-printable text, where "=" is always "=3D".
    boundary = f"=_mb_{secrets.token_hex(12)}".encode("ascii")
    parts = [b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n']
    for subtype, text in (("plain", rendered.text), ("html", rendered.html)):
        parts += [b"--", boundary, b"\r\n", _TEXT_PART.format(subtype=subtype).encode("ascii"), b"\r\n",
                  _quoted_printable(text), b"\r\n"]
    parts += [b"--", boundary, b"--\r\n"]
    return b"".join(parts)


_TEXT_PART = 'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'


def _quoted_printable(text: str) -> bytes:
    """UTF-8 text as quoted-printable lines of at most 76 characters, CRLF line ends, ending in a line end."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    if not lines.endswith("\n"):
        lines += "\n"
    encoded = binascii.b2a_qp(lines.encode("utf-8"), istext=True)
    return encoded.replace(b"\n", b"\r\n")


# RFC 2047: an encoded word is at most 75 characters; 45 bytes of UTF-8 make 60 of base64, 72 in all.
_WORD_BYTES = 45
# A word longer than this could not share a line with a header name under 998 bytes: it is encoded,
# which splits it across lines.
_LONGEST_PLAIN_WORD = 900
# What a display name must be quoted for (RFC 5322 specials).
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


# Every mail writes its queue's From and Reply-To and an agent's or customer's To, mostly the
# same few again: each is made once (the function is pure, and its arguments are two strings).
@lru_cache(maxsize=1024)
def mailbox(name: str, address: str) -> str:
    """`Name <address>`, the name (one line) quoted or RFC 2047 encoded as needed; without a name the address."""
    name = one_line(name)
    if not name:
        return address
    if not _plain(name) and any(_needs_encoding(word) for word in name.split(" ")):
        # Whole, so a comma or quote in the name stays inside the encoded words and never splits the address.
        return f"{_encoded_words(name)} <{address}>"
    if _SPECIALS.search(name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{name} <{address}>"


def encode_text(text: str) -> str:
    """Unstructured header text (a subject): plain ASCII words kept, runs of other words RFC 2047 encoded."""
    if _plain(text):
        # No word to encode: the words joined again by their spaces, as below, are the text.
        return text
    out: list[str] = []
    run: list[str] = []
    for word in text.split(" "):
        if _needs_encoding(word):
            run.append(word)
            continue
        if run:
            out.append(_encoded_words(" ".join(run)))
            run = []
        out.append(word)
    if run:
        # Spaces between encoded words vanish when decoded, so a run keeps its own spaces inside the words.
        out.append(_encoded_words(" ".join(run)))
    return " ".join(out)


def _plain(text: str) -> bool:
    """No word of `text` needs encoding (`_needs_encoding`), found without splitting it into words."""
    return text.isascii() and "=?" not in text and len(text) <= _LONGEST_PLAIN_WORD


def _needs_encoding(word: str) -> bool:
    # "=?" in plain text would be read back as the start of an encoded word.
    return not word.isascii() or "=?" in word or len(word) > _LONGEST_PLAIN_WORD


def _encoded_words(text: str) -> str:
    """Base64 encoded words of whole characters, each under 76 columns, separated by spaces."""
    if 0 < len(text.encode("utf-8")) <= _WORD_BYTES:
        # The usual display name or short subject: one word, without weighing every character.
        return _encoded_word(text)
    words, chunk, size = [], [], 0
    for char in text:
        length = len(char.encode("utf-8"))
        if size + length > _WORD_BYTES:
            words.append(_encoded_word("".join(chunk)))
            chunk, size = [], 0
        chunk.append(char)
        size += length
    if chunk:
        words.append(_encoded_word("".join(chunk)))
    return " ".join(words)


def _encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def fold(name: str, value: str) -> str:
    """`Name: value` CRLF, folded before a space so lines stay under 78 columns where the words allow."""
    if len(name) + 2 + len(value) <= 78:
        # Most headers fit on one line, which is what the loop below would make of them.
        return f"{name}: {value}\r\n"
    line = f"{name}:"
    lines = []
    for word in value.split(" "):
        if len(line) + 1 + len(word) > 78 and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def safe_address(address: str) -> str:
    """A plain `local@domain` address, or UnsafeAddress (a header value must never come of it)."""
    plain = (address or "").strip()
    # Non-ASCII addresses need SMTPUTF8, which our headers (and many relays) do not speak: such a
    # customer gets no automatic mail rather than the message a quarantine.
    if not _ADDRESS.fullmatch(plain) or len(plain) > 320 or not plain.isascii():
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
    """`[DYN-000123] subject`: the code in brackets once, where the subject has it, else in front."""
    clean = one_line(subject)
    tag = f"[{code.upper()}]"
    at = clean.upper().find(tag)
    if at < 0:
        return f"[{code}] {clean}".strip()
    # A customer's subject that carried the code already must not make it appear twice.
    head, rest = clean[: at + len(tag)], clean[at + len(tag):]
    rest = re.sub(re.escape(tag), "", rest, flags=re.IGNORECASE)
    return " ".join(f"{head}{rest}".split())
