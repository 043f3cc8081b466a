"""Ticket ownership: who owns a ticket, who may be made its owner, and who gets its notices.

One small module the pipeline, the agents' commands, the notices and the escalation steps all
ask, so that "the owner, else every agent of the queue" means the same everywhere. It reads the
config and the ticket only: no database, no mail.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailbridge.config.classify import CustomerConfig
from mailbridge.config.models import Config, QueueConfig
from mailbridge.store.models import Ticket


class NotAnAgent(ValueError):
    """The address named as owner is not an agent of the ticket's queue."""


def personal_agent(customer_address: str, customers: Sequence[CustomerConfig], queue: QueueConfig) -> str | None:
    """The personal agent configured for this customer (`[[customers]] agent`), when it is the queue's."""
    address = customer_address.strip().lower()
    domain = "@" + address.rsplit("@", 1)[-1] if "@" in address else None
    for customer in customers:
        if address in customer.match or (domain and domain in customer.match):
            # A personal agent who does not answer this queue cannot own its tickets.
            return customer.agent if customer.agent and queue.is_agent(customer.agent) else None
    return None


def set_owner(ticket: Ticket, address: str, queue: QueueConfig) -> str | None:
    """Make `address` (an agent of the queue) the owner; returns the previous owner."""
    agent = address.strip().lower()
    if not queue.is_agent(agent):
        raise NotAnAgent(f"{address} is not an agent of queue {queue.name}")
    before = ticket.owner
    if before != agent:
        ticket.owner = agent
    return before


def notice_recipients(ticket: Ticket, queue: QueueConfig, config: Config, *, besides: str = "") -> list[str]:
    """Who gets a notice about the ticket: its owner when it has one (`notices_to = "owner"`), else every agent.

    `besides`: an address left out (the agent whose own mail caused the notice).
    """
    besides = besides.strip().lower()
    owner = (ticket.owner or "").lower()
    if config.agent_mail.notices_to == "owner" and owner and queue.is_agent(owner):
        chosen = [owner]
    else:
        chosen = [agent.lower() for agent in queue.agents]
    return [agent for agent in dict.fromkeys(chosen) if agent != besides]
