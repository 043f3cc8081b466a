"""What an agent's mail on a ticket does once it is stored: commands applied, answer relayed, people told.

In the pipeline's transaction, in this order: the commands (`#priority`, `#type`, `#take`,
`#assign`, then the last status command), the relay of the answer to the customer's side, the
status "waiting for the customer" (`pending`) after a relayed answer unless a command chose
another, the clocks (the stored `agent` message is the response), and a short notice to the
queue's other agents (`[agent_mail] notify_answered`). A refused mail or a bad command gets a
mail to the agent alone, saying why; nothing else happens.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from mailbridge import ownership, status
from mailbridge.agents import relay, trust
from mailbridge.agents.commands import Commands, help_lines
from mailbridge.agents.reading import ANSWER, COMMAND_ERROR, REFUSED, AgentMail
from mailbridge.config.models import Config, QueueConfig
from mailbridge.outgoing import notify
from mailbridge.parse.model import ParsedMessage
from mailbridge.sla import clocks
from mailbridge.store.models import Message, Ticket

log = logging.getLogger(__name__)

# The commands that set the ticket's status; the last one written wins.
_STATUS_COMMANDS = ("resolve", "close", "pending", "open")


def act(mail: AgentMail, message: ParsedMessage, row: Message, ticket: Ticket, *, session: Session,
        config: Config, secret: bytes, now: datetime) -> None:
    """Carry out an agent's stored mail on its ticket (see the module docstring)."""
    queue = config.queue(ticket.queue)
    if queue is None:
        return
    if mail.action in (REFUSED, COMMAND_ERROR):
        _tell_agent(mail, row, ticket, queue, session=session, config=config, secret=secret, now=now)
        return
    _classify(mail, ticket, queue)
    relayed = 0
    if mail.action == ANSWER:
        relayed = relay.relay(message, row, ticket, queue, mail.commands.body.strip(),
                              rewritten=bool(mail.commands.commands), session=session, config=config,
                              secret=secret, now=now)
        if not relayed:
            # Loop protection refused every address (a no-reply requester, say): the agent must know.
            unsent = AgentMail(REFUSED, mail.sender, mail.commands, "no customer address can receive mail",
                               trust.Verdict(False, "no customer address can receive mail", "no-recipient"))
            _tell_agent(unsent, row, ticket, queue, session=session, config=config, secret=secret, now=now)
    _set_status(mail.commands, ticket, relayed=mail.action == ANSWER, session=session, config=config,
                secret=secret, now=now)
    clocks.refresh(ticket, session=session, config=config, now=now)
    if mail.action == ANSWER and config.agent_mail.notify_answered:
        _tell_colleagues(row, ticket, queue, session=session, config=config, secret=secret, now=now)
    log.info("%s on %s by %s: %s%s", mail.action, ticket.code, mail.sender,
             ", ".join(c.written for c in mail.commands.commands) or "no commands",
             f"; relayed to {relayed}" if mail.action == ANSWER else "")


def _classify(mail: AgentMail, ticket: Ticket, queue: QueueConfig) -> None:
    """Priority, type and owner, in the order written (the before-flush hook logs each change)."""
    for command in mail.commands.commands:
        if command.name in ("priority", "type"):
            setattr(ticket, command.name, command.argument)
        elif command.name == "take":
            ownership.set_owner(ticket, mail.sender, queue)
        elif command.name == "assign":
            ownership.set_owner(ticket, command.argument, queue)


def _set_status(commands: Commands, ticket: Ticket, *, relayed: bool, session: Session, config: Config,
                secret: bytes, now: datetime) -> None:
    """The last status command wins; a relayed answer without one leaves the ticket waiting for the customer."""
    wanted = next((c.name for c in reversed(commands.commands) if c.name in _STATUS_COMMANDS), None)
    if wanted is None and relayed:
        wanted = "pending"
    if wanted is None:
        return
    action = "reopen" if wanted == "open" and ticket.status in ("resolved", "closed") else wanted
    if status.allowed(ticket, action):
        status.apply(ticket, action, session=session, config=config, secret=secret, now=now)


def _tell_agent(mail: AgentMail, row: Message, ticket: Ticket, queue: QueueConfig, *, session: Session,
                config: Config, secret: bytes, now: datetime) -> None:
    """The mail to the agent alone saying why nothing was sent: a refusal, or a command not understood."""
    if mail.action == REFUSED:
        verdict = mail.verdict
        kind = "agent_not_relayed"
        extra = {"reason": verdict.code, "authserv_id": verdict.authserv_id, "domain": verdict.domain}
    else:
        kind, extra = "agent_command_error", {"line": mail.reason, "commands": help_lines()}
    notice = notify.Mail(f"{kind}:{row.id}", kind, ticket, queue, mail.sender, "", queue.language, row,
                         [row.message_id], limited=False, auto_submitted="auto-replied", extra=extra)
    notify.queue_mail(notice, cause=None, envelope_from=None, session=session, config=config, secret=secret, now=now)


def _tell_colleagues(row: Message, ticket: Ticket, queue: QueueConfig, *, session: Session, config: Config,
                     secret: bytes, now: datetime) -> None:
    for agent in ownership.notice_recipients(ticket, queue, config, besides=row.sender):
        notice = notify.Mail(f"answered:{row.id}:{agent}", "agent_answered", ticket, queue, agent, "",
                             queue.language, row, (), limited=False, auto_submitted="auto-generated")
        notify.queue_mail(notice, cause=None, envelope_from=None, session=session, config=config,
                          secret=secret, now=now)
