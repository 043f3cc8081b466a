"""Loop protection: may we send automatic mail to this address about this message, and if not, why (pure).

`decide` answers with the first rule that objects, in this order:

1. it is our own mail coming back (our signed Message-ID, or our X-Loop value);
2. parsing called the message that would be answered automatic (an auto-reply, a bounce, list
   mail or a list manager's notice, a loop…);
3. its envelope sender is null (`MAIL FROM:<>`): RFC 3834 says never to answer those;
4. the recipient is empty, not a plain address, a mailer-daemon/postmaster, a no-reply
   address, or one of our own queue addresses;
5. a bounce marked the recipient undeliverable and that time has not passed (held);
6. the recipient already got `limit` automatic mails in the window (held).

Rules 1-4 mean "never send": nothing is queued. Rules 5-6 mean "not now": the mail is queued
but held, visible in `mailbridge outbox list`, and can be released with `outbox retry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mailbridge.outgoing.compose import UnsafeAddress, safe_address
from mailbridge.config.models import QueueConfig
from mailbridge.parse.auto import NOREPLY_RE
from mailbridge.parse.bounce_text import is_daemon_address
from mailbridge.parse.model import ParsedMessage
from mailbridge.route import base_address, queue_for_address
from mailbridge.tokens import is_our_message_id


@dataclass(frozen=True, slots=True)
class Decision:
    """`send`: go ahead; otherwise `hold` (queue it, held) or skip entirely, for `reason`."""

    send: bool
    hold: bool = False
    reason: str = ""


SEND = Decision(True)


@dataclass(frozen=True, slots=True)
class RecipientState:
    """What the database knows about a recipient: recent automatic mail and bounce hold."""

    recent_automatic: int = 0
    undeliverable_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` automatic mails to one address per `hours`; None disables the limit."""

    count: int
    hours: int


def decide(
    recipient: str, *, message: ParsedMessage | None, envelope_from: str | None,
    queues: Sequence[QueueConfig], secret: bytes, state: RecipientState, limit: Limit | None,
    now: datetime,
) -> Decision:
    """Whether automatic mail to `recipient`, caused by `message` (None: no mail caused it), may go."""
    return decide_for(recipient, cause=cause_reason(message, envelope_from, queues, secret), queues=queues,
                      state=state, limit=limit, now=now)


def cause_reason(message: ParsedMessage | None, envelope_from: str | None, queues: Sequence[QueueConfig],
                 secret: bytes) -> str | None:
    """Rules 1-3: why the mail that causes it allows no automatic mail to anyone (None: it allows it)."""
    return (_message_reason(message, queues, secret) if message is not None else None) \
        or _envelope_reason(envelope_from)


def decide_for(recipient: str, *, cause: str | None, queues: Sequence[QueueConfig], state: RecipientState,
               limit: Limit | None, now: datetime) -> Decision:
    """`decide` with its cause's verdict (`cause_reason`) worked out once for all the mails it causes."""
    skip = cause or _known_recipient_reason(recipient, queues)
    if skip:
        return Decision(False, False, skip)
    if state.undeliverable_until is not None and state.undeliverable_until > now:
        return Decision(False, True, f"undeliverable until {state.undeliverable_until:%Y-%m-%d %H:%M} UTC (a bounce)")
    if limit is not None and state.recent_automatic >= limit.count:
        return Decision(False, True, f"rate limit: {state.recent_automatic} automatic mails "
                                     f"in the last {limit.hours} h (at most {limit.count})")
    return SEND


def _message_reason(message: ParsedMessage, queues: Sequence[QueueConfig], secret: bytes) -> str | None:
    if message.message_id and is_our_message_id(message.message_id, secret):
        return "our own mail came back (our Message-ID)"
    for value in message.header_all("X-Loop"):
        if queue_for_address(value.strip().strip("<>"), queues) is not None:
            return f"our own mail came back (X-Loop: {value.strip()})"
    if message.auto is not None:
        return f"automatic mail ({message.auto.kind}: {message.auto.reason})"
    return None


def _envelope_reason(envelope_from: str | None) -> str | None:
    # None means "not known" (a file ingested by hand); "" or "<>" is the null sender.
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "null envelope sender (MAIL FROM:<>)"
    return None


# Rule 4's answer for each recipient, remembered with the (immutable) queues it was given for: every mail
# asks, mostly about the same few addresses (the agents, a customer writing again). Bounded, and
# forgotten whole when full; an answer for other queues (a reloaded config) is made again.
_REASONS: dict[tuple[str, int], tuple[Sequence[QueueConfig], str | None]] = {}
_MAX_REASONS = 4096


def _known_recipient_reason(recipient: str, queues: Sequence[QueueConfig]) -> str | None:
    if type(queues) is not tuple:
        # A list could change after its answer was kept (a config's queues are a tuple).
        return _recipient_reason(recipient, queues)
    key = (recipient, id(queues))
    known = _REASONS.get(key)
    if known is not None and known[0] is queues:
        return known[1]
    reason = _recipient_reason(recipient, queues)
    if len(_REASONS) >= _MAX_REASONS:
        _REASONS.clear()
    _REASONS[key] = (queues, reason)
    return reason


def _recipient_reason(recipient: str, queues: Sequence[QueueConfig]) -> str | None:
    try:
        address = safe_address(recipient).lower()
    except UnsafeAddress:
        return f"no usable address ({recipient!r})" if recipient else "no sender address"
    if is_daemon_address(address):
        return f"machine address {address}"
    if NOREPLY_RE.match(base_address(address).rpartition("@")[0]):
        return f"no-reply address {address}"
    if queue_for_address(address, queues) is not None:
        return f"{address} is one of our own queue addresses"
    return None
