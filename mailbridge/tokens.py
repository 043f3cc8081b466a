"""Signed reply tokens and our own Message-IDs: made and checked with one secret (pure).

A reply token names a ticket in a sub-address (`support+<token>@example.com`), so it must
survive MTAs and clients that lowercase local parts: tokens use lowercase base32 letters and
digits only. A token is the ticket id in decimal followed by a fixed-length HMAC-SHA256 tag, so
it stays readable in logs and short (at most 20 characters). Our Message-IDs
(`mb.<ticket id or x>.<random>.<tag>@domain`) are signed the same way, over the ticket id and
the random part but not the domain, so they stay ours if the configured domain changes.
"""

from __future__ import annotations

import hmac
import re
import secrets
from functools import lru_cache

TOKEN_TAG_LENGTH = 10  # 50 bits: guessing means sending ~10^15 mails, one per try.
MAX_TICKET_ID = 10**10 - 1  # Keeps a token within 20 characters.
_MESSAGE_ID_TAG_LENGTH = 16
_TOKEN = re.compile(rf"(0|[1-9][0-9]{{0,9}})([a-z2-7]{{{TOKEN_TAG_LENGTH}}})")
_MESSAGE_ID = re.compile(r"mb\.(0|[1-9][0-9]{0,18}|x)\.([a-z2-7]{12})\.([a-z2-7]{16})")


# Every mail about a ticket carries its token in Reply-To (an acknowledgement and each agent's
# notice): a token depends on nothing else, so it is signed once per ticket, not once per mail.
@lru_cache(maxsize=4096)
def ticket_token(ticket_id: int, secret: bytes) -> str:
    """The reply token of ticket `ticket_id`: e.g. `123k4dqx2m7qa` (≤ 20 characters)."""
    if not 0 <= ticket_id <= MAX_TICKET_ID:
        raise ValueError(f"ticket id out of the token range: {ticket_id}")
    return f"{ticket_id}{_tag(secret, b'ticket', str(ticket_id), TOKEN_TAG_LENGTH)}"


def read_ticket_token(token: str, secret: bytes) -> int | None:
    """The ticket id a token names, or None when it is malformed or its tag does not match."""
    match = _TOKEN.fullmatch(token.strip().lower())
    if not match:
        return None
    number, tag = match.groups()
    expected = _tag(secret, b"ticket", number, TOKEN_TAG_LENGTH)
    return int(number) if hmac.compare_digest(tag, expected) else None


def our_message_id(ticket_id: int | None, secret: bytes, domain: str) -> str:
    """A new Message-ID (no brackets) that only we can make, naming `ticket_id` if given."""
    if ticket_id is not None and ticket_id < 0:
        raise ValueError(f"ticket id must not be negative: {ticket_id}")
    number = "x" if ticket_id is None else str(ticket_id)
    nonce = _base32(secrets.token_bytes(8), 12)
    tag = _tag(secret, b"message-id", f"{number}.{nonce}", _MESSAGE_ID_TAG_LENGTH)
    return f"mb.{number}.{nonce}.{tag}@{domain.lower()}"


def ticket_from_message_id(message_id: str, secret: bytes) -> int | None:
    """The ticket named by one of our Message-IDs; None for others' ids and ours without one."""
    number = _verified_number(message_id, secret)
    return int(number) if number not in (None, "x") else None


def is_our_message_id(message_id: str, secret: bytes) -> bool:
    """Whether `message_id` (with or without brackets) was made by `our_message_id`."""
    return _verified_number(message_id, secret) is not None


def _verified_number(message_id: str, secret: bytes) -> str | None:
    """The ticket part ("x" for none) of a correctly signed Message-ID of ours, else None."""
    local = message_id.strip().strip("<>").rpartition("@")[0].lower()
    match = _MESSAGE_ID.fullmatch(local)
    if not match:
        return None
    number, nonce, tag = match.groups()
    expected = _tag(secret, b"message-id", f"{number}.{nonce}", _MESSAGE_ID_TAG_LENGTH)
    return number if hmac.compare_digest(tag, expected) else None


def _tag(secret: bytes, purpose: bytes, text: str, length: int) -> str:
    # The purpose is part of the signed data, so a token can never pass for a Message-ID tag.
    # `hmac.digest` is the one-shot form (OpenSSL's, in C) of `hmac.new(...).digest()`: the same
    # bytes without building an HMAC object in Python for each of the mails' two or three tags.
    digest = hmac.digest(secret, purpose + b"\x00" + text.encode("ascii"), "sha256")
    return _base32(digest, length)


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
# Two base32 characters for each 10-bit value: half the steps of one character at a time.
_BASE32_PAIRS = [first + second for first in _BASE32 for second in _BASE32]


def _base32(data: bytes, length: int) -> str:
    """The first `length` characters of `data` in lowercase base32 (RFC 4648, unpadded).

    Written from the bits rather than by `base64.b32encode`, which is Python code in 3.11 and
    encodes all 32 bytes of a digest to keep 10 or 16 characters; the characters are the same.
    """
    # Only the bytes the characters are made of; the last group is filled with zero bits, as base32 does.
    used = data[: (length * 5 + 7) // 8]
    bits = len(used) * 8
    count = (bits + 4) // 5
    # Made in pairs: an odd count is made one longer, and that last character cut off.
    pairs = (count + 1) // 2
    value = int.from_bytes(used, "big") << (pairs * 10 - bits)
    text = "".join([_BASE32_PAIRS[(value >> shift) & 1023] for shift in range(pairs * 10 - 10, -1, -10)])
    return text[:min(length, count)]
