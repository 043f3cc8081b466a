"""What a mail from one of the queue's agents asks for: an answer, a note, a command error, a refusal, or a new ticket.

`read` decides, before the mail is stored, which of these it is and so how it is stored:
an answer relayed to the customer is an `agent` message (a response for the clocks); a note,
commands without text, and an answer refused for a bad command are `note` messages; a mail
that cannot act as the agent (no thread proof, or no passing DKIM/DMARC where required) is
an ordinary `customer` message, and the agent is told why. `#fwd` or `#phone` on the first
line opens a ticket for a customer instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbridge.agents import trust
from mailbridge.agents.commands import NAMES, OPENING_COMMANDS, Command, Commands, fold, read_commands
from mailbridge.agents.opening import NoOriginal, customer_message
from mailbridge.config.models import QueueConfig
from mailbridge.parse.model import ParsedMessage

# Actions and the kind of message each is stored as.
ANSWER, NOTE, COMMAND_ERROR, REFUSED, OPEN = "answer", "note", "command-error", "refused", "open"
KINDS = {ANSWER: "agent", NOTE: "note", COMMAND_ERROR: "note", REFUSED: "customer", OPEN: "customer"}


@dataclass(frozen=True, slots=True)
class AgentMail:
    """One agent's mail: what it asks for (`action`), its commands and text, and why when refused."""

    action: str
    sender: str
    commands: Commands
    reason: str = ""
    # Why trust was refused (see `trust.Verdict`): what the agent is told.
    verdict: trust.Verdict | None = None

    @property
    def kind(self) -> str:
        """The kind of message it is stored as."""
        return KINDS[self.action]

    @property
    def opening(self) -> Command | None:
        """`#fwd` or `#phone`, for a mail that opens a ticket."""
        return self.commands.commands[0] if self.action == OPEN else None


def read(message: ParsedMessage, queue: QueueConfig, thread_rule: str, *, has_ticket: bool,
         authserv_id: str) -> AgentMail | None:
    """What the mail asks for, or None when it is not an agent's mail (an automatic one never is)."""
    sender = message.from_.address.strip().lower() if message.from_ else ""
    if message.auto is not None or not queue.is_agent(sender):
        return None
    opening = _opening(message)
    if opening is not None:
        return _open(message, sender, opening, authserv_id)
    if not has_ticket:
        return None
    verdict = trust.answer_verdict(message, thread_rule, authserv_id=authserv_id)
    if not verdict.trusted:
        return AgentMail(REFUSED, sender, Commands((), message.reply_text), verdict.reason, verdict)
    commands = read_commands(message.reply_text)
    problem = commands.error or _problem(commands, queue)
    if problem:
        return AgentMail(COMMAND_ERROR, sender, commands, problem)
    if commands.has("note") or not commands.body.strip():
        return AgentMail(NOTE, sender, commands)
    return AgentMail(ANSWER, sender, commands)


def _opening(message: ParsedMessage) -> Commands | None:
    """The commands of a mail whose first line is `#fwd` or `#phone` (read from the whole text)."""
    commands = read_commands(message.text)
    first = commands.commands[0] if commands.commands else None
    if first is not None and first.name in OPENING_COMMANDS:
        return commands
    if commands.error and fold(_first_word(commands.error).lstrip("#")) in NAMES["fwd"] + NAMES["phone"]:
        return commands
    return None


def _open(message: ParsedMessage, sender: str, commands: Commands, authserv_id: str) -> AgentMail:
    if commands.error:
        return AgentMail(COMMAND_ERROR, sender, commands, commands.error)
    # Nothing proves a thread for a new ticket: only the MTA's verdict, where configured, can.
    verdict = trust.authenticated(message, authserv_id)
    if not verdict.trusted:
        return AgentMail(REFUSED, sender, commands, verdict.reason, verdict)
    try:
        customer_message(message, commands)
    except NoOriginal as missing:
        # Recorded as the agent's own mail; the agent is told what was missing.
        return AgentMail(REFUSED, sender, commands, str(missing), trust.Verdict(False, str(missing), "no-original"))
    return AgentMail(OPEN, sender, commands)


def _problem(commands: Commands, queue: QueueConfig) -> str | None:
    """A command that reads well but cannot be done: its line, with why."""
    for command in commands.commands:
        if command.name in OPENING_COMMANDS:
            return f"{command.written}  (only the first line of a new mail to {queue.address} opens a ticket)"
        if command.name == "assign" and not queue.is_agent(command.argument):
            return f"{command.written}  ({command.argument} is not an agent of {queue.label})"
    return None


def _first_word(line: str) -> str:
    return line.split()[0].lower() if line.split() else ""
