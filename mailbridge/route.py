"""Routing: which queue a message belongs to, from its recipient addresses (pure, no I/O).

The rule, first match wins: the first queue address or alias found among, in order, the To
header, the Cc header, the envelope recipients (RCPT TO: reaches a Bcc'd queue), and the
Delivered-To / X-Original-To headers an MTA or mailbox provider adds. Addresses compare
case-insensitively, and `local+tag@domain` reaches `local@domain`. So a message written to two
product addresses becomes one ticket in the queue of the first one in To; the other product
addresses are noted in `RouteDecision.also`. With no match the catch-all queue takes it, and
without a catch-all the message is `Unroutable` (refused; never a ticket).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from typing import TYPE_CHECKING

from mailbridge.config import QueueConfig
from mailbridge.errors import Unroutable

if TYPE_CHECKING:
    # Only for annotations: routing reads attributes and must not pull in the parser.
    from mailbridge.parse.model import ParsedMessage

_HEADER_SOURCES = (("delivered-to", "Delivered-To"), ("x-original-to", "X-Original-To"))
# How each rule names its source in `detail`, which `mailbridge explain` shows.
_HEADER_NAMES = {
    "to-header": "To:",
    "cc-header": "Cc:",
    "envelope": "RCPT TO:",
    "delivered-to": "Delivered-To:",
    "x-original-to": "X-Original-To:",
}


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The queue chosen, the recipient address that chose it (as written), and why.

    `rule` names the source (to-header, cc-header, envelope, delivered-to, x-original-to,
    catch-all), `detail` says it for a person, and `also` holds the addresses of other queues
    found among the recipients (noted on the ticket; they open no second ticket).
    """

    queue: QueueConfig
    address: str
    rule: str
    detail: str
    also: tuple[str, ...] = ()


def route(
    message: ParsedMessage,
    queues: Sequence[QueueConfig],
    envelope_rcpts: Sequence[str] = (),
) -> RouteDecision:
    """The queue for `message`; raises Unroutable when no queue and no catch-all takes it."""
    matches = [
        (rule, address, queue)
        for rule, address in _candidates(message, envelope_rcpts)
        if (queue := queue_for_address(address, queues)) is not None
    ]
    if matches:
        rule, address, queue = matches[0]
        also = _others(matches, queue)
        return RouteDecision(queue, address, rule, f"{_HEADER_NAMES[rule]} {address}", also)
    catch_all = next((q for q in queues if q.catch_all), None)
    if catch_all is None:
        raise Unroutable(f"no queue serves any recipient ({_recipient_list(message, envelope_rcpts)})")
    address = next((a for _, a in _candidates(message, envelope_rcpts)), catch_all.address)
    detail = f"no queue address among the recipients; catch-all queue {catch_all.name}"
    return RouteDecision(catch_all, address, "catch-all", detail)


def queue_for_address(address: str, queues: Sequence[QueueConfig]) -> QueueConfig | None:
    """The queue whose address or alias `address` is, ignoring case and any `+tag`."""
    wanted = base_address(address)
    return next((q for q in queues if wanted in q.address_set), None)


def plus_tag(address: str) -> str | None:
    """The sub-address of `local+tag@domain` (`tag`, case kept), or None without one."""
    local, at, _ = _bare(address).rpartition("@")
    if not at or "+" not in local:
        return None
    return local.split("+", 1)[1] or None


def base_address(address: str) -> str:
    """`Local+Tag@Domain` → `local@domain`: the form queue addresses are compared in."""
    local, at, domain = _bare(address).rpartition("@")
    if not at:
        return _bare(address).lower()
    return f"{local.split('+', 1)[0]}@{domain}".lower()


def _candidates(message: ParsedMessage, envelope_rcpts: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(rule, address) for every recipient address, in the order routing trusts them."""
    yield from (("to-header", a.address) for a in message.to if a.address)
    yield from (("cc-header", a.address) for a in message.cc if a.address)
    yield from (("envelope", _bare(a)) for a in envelope_rcpts if _bare(a))
    for rule, header in _HEADER_SOURCES:
        values = message.header_all(header)
        yield from ((rule, address) for _, address in getaddresses(values) if address)


def _others(matches: list[tuple[str, str, QueueConfig]], chosen: QueueConfig) -> tuple[str, ...]:
    """Product addresses of other queues among the recipients, each once, in order."""
    seen: dict[str, None] = {}
    for _, address, queue in matches:
        if queue.name != chosen.name:
            seen.setdefault(base_address(address))
    return tuple(seen)


def _recipient_list(message: ParsedMessage, envelope_rcpts: Sequence[str]) -> str:
    addresses = dict.fromkeys(address.lower() for _, address in _candidates(message, envelope_rcpts))
    return ", ".join(addresses) or "no recipients"


def _bare(address: str) -> str:
    """An address without surrounding space or angle brackets (`<a@b>` as given in RCPT TO)."""
    return address.strip().strip("<>").strip()
