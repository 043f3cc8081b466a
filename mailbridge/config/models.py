"""The shape of the config file as pydantic models: every key, its type, default and rule."""

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mailbridge.config.agent_mail import AgentMailSection
from mailbridge.config.calendars import CalendarConfig, CalendarName, ZoneName
from mailbridge.config.checks import (
    check_code_prefix,
    check_database_url,
    check_domain,
    check_email,
    check_mailbox,
    check_queue_name,
    check_relay_display_name,
    check_secret,
    personal_agent_conflicts,
    queue_conflicts,
)
from mailbridge.config.escalation import EscalationSection, ladder_problems
from mailbridge.config.classify import ClassifySection, CustomerConfig, Priority, TicketType
from mailbridge.config.imap import ImapAccount, imap_conflicts
from mailbridge.config.listener import ListenerSection
from mailbridge.config.oauth import OAuthClient, oauth_conflicts
from mailbridge.config.ops import ImportSection, MetricsSection
from mailbridge.config.outbox import OutboxSection
from mailbridge.config.processing import ProcessingSection
from mailbridge.config.sla import SlaSection, name_problems
from mailbridge.config.sms import SmsSection
from mailbridge.config.state import default_database_url, resolve_state_dir, secret_file_bytes
from mailbridge.config.tables import OWN, Table, defaults

Email = Annotated[StrictStr, AfterValidator(check_email)]
Mailbox = Annotated[StrictStr, AfterValidator(check_mailbox)]
QueueName = Annotated[StrictStr, AfterValidator(check_queue_name)]
CodePrefix = Annotated[StrictStr, AfterValidator(check_code_prefix)]


class MailbridgeSection(Table):
    """`[mailbridge]`: where state lives, the signing secret and the domain of our Message-IDs."""

    state_dir: StrictStr = ""
    secret: StrictStr = Field(default="", repr=False)
    domain: StrictStr = ""

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check_secret(value)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return check_domain(value)


class DatabaseSection(Table):
    """`[database]`: one URL; "" means a SQLite file in the state directory."""

    url: StrictStr = Field(default="", repr=False)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_database_url(value)


class ThreadingSection(Table):
    """`[threading]`: how replies find their ticket."""

    reopen_window_days: StrictInt = Field(default=30, ge=0)


class QueueConfig(Table):
    """One `[[queues]]` table: a product's support address and who answers it."""

    name: QueueName
    address: Mailbox
    aliases: tuple[Mailbox, ...] = ()
    code_prefix: CodePrefix
    language: Literal["pl", "es", "en"] = "en"
    # More languages the queue answers in: a customer writing in one of them is answered in it.
    languages: tuple[Literal["pl", "es", "en"], ...] = ()
    display_name: StrictStr = ""
    agents: tuple[Email, ...] = ()
    catch_all: StrictBool = False
    # Business time (see config/calendars.py): the zone times are shown and counted in, and the
    # calendar deemed receipt and SLA clocks use ("" = built-in "business", Mon-Fri 09:00-17:00).
    time_zone: ZoneName = "UTC"
    calendar: StrictStr = ""
    default_priority: Priority = "routine"
    default_type: TicketType = "question"
    # The From name of an agent's answer relayed to a customer: {agent} is the agent's name (from
    # their mail, else their address), {queue} the queue's label. "" = the queue's label alone.
    relay_display_name: StrictStr = "{agent} ({queue})"

    @field_validator("relay_display_name")
    @classmethod
    def _relay_name(cls, value: str) -> str:
        return check_relay_display_name(value)

    def addresses(self) -> tuple[str, ...]:
        """The queue's address and aliases, lowercased: the forms routing compares against."""
        return tuple(a.lower() for a in (self.address, *self.aliases))

    # Made once (the model is frozen): routing and the agents' checks ask for every message.
    @cached_property
    def address_set(self) -> frozenset[str]:
        """`addresses()` as a set."""
        return frozenset(self.addresses())

    @cached_property
    def agent_set(self) -> frozenset[str]:
        """The agents' addresses, lowercased."""
        return frozenset(a.lower() for a in self.agents)

    def is_agent(self, address: str) -> bool:
        """Whether `address` (any case) is one of this queue's agents."""
        return address.strip().lower() in self.agent_set

    def answer_language(self, detected: str | None) -> str:
        """The language of mail to a customer: theirs when the queue allows it, else the queue's."""
        return detected if detected and detected in self.languages else self.language

    @property
    def label(self) -> str:
        """The name shown to customers: `display_name`, else the queue name."""
        return self.display_name or self.name


class Config(Table):
    """The whole config file, with the values that depend on the environment resolved once."""

    mailbridge: Annotated[MailbridgeSection, OWN] = Field(default_factory=defaults(MailbridgeSection))
    database: Annotated[DatabaseSection, OWN] = Field(default_factory=defaults(DatabaseSection))
    threading: Annotated[ThreadingSection, OWN] = Field(default_factory=defaults(ThreadingSection))
    listener: Annotated[ListenerSection, OWN] = Field(default_factory=defaults(ListenerSection))
    processing: Annotated[ProcessingSection, OWN] = Field(default_factory=defaults(ProcessingSection))
    outbox: Annotated[OutboxSection, OWN] = Field(default_factory=defaults(OutboxSection))
    agent_mail: Annotated[AgentMailSection, OWN] = Field(default_factory=defaults(AgentMailSection))
    queues: tuple[QueueConfig, ...] = Field(min_length=1)
    calendars: dict[CalendarName, Annotated[CalendarConfig, OWN]] = Field(default_factory=dict)
    classify: Annotated[ClassifySection, OWN] = Field(default_factory=defaults(ClassifySection))
    customers: tuple[Annotated[CustomerConfig, OWN], ...] = ()
    sla: Annotated[SlaSection, OWN] = Field(default_factory=defaults(SlaSection))
    imap: tuple[Annotated[ImapAccount, OWN], ...] = ()
    oauth: tuple[Annotated[OAuthClient, OWN], ...] = ()
    metrics: Annotated[MetricsSection, OWN] = Field(default_factory=defaults(MetricsSection))
    import_: Annotated[ImportSection, OWN] = Field(default_factory=defaults(ImportSection), alias="import")
    escalation: Annotated[EscalationSection, OWN] = Field(default_factory=defaults(EscalationSection))
    sms: Annotated[SmsSection, OWN] = Field(default_factory=defaults(SmsSection))

    _state_dir: Path = PrivateAttr()
    _source: Path | None = PrivateAttr(default=None)
    _secret: bytes | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> "Config":
        context = info.context or {}
        # `load_config` has already checked the raw tables (so that these problems are reported
        # together with the field problems); a Config built in code is checked here instead.
        if not context.get("conflicts_checked"):
            conflicts = queue_conflicts([q.model_dump() for q in self.queues])
            conflicts += imap_conflicts([a.model_dump() for a in self.imap], [q.model_dump() for q in self.queues])
            conflicts += name_problems(self)
            conflicts += oauth_conflicts(self.model_dump())
            conflicts += personal_agent_conflicts(self.model_dump())
            conflicts += ladder_problems(self.model_dump())
            if conflicts:
                raise ValueError("; ".join(conflicts))
        # Resolved once, at load, so that a later change of directory or environment cannot
        # move the database or the secret under a running daemon.
        env = context.get("env", os.environ)
        cwd = context.get("cwd") or Path.cwd()
        self._state_dir = resolve_state_dir(self.mailbridge.state_dir, env, cwd)
        self._source = context.get("source")
        return self

    @property
    def state_dir(self) -> Path:
        """The absolute state directory (database file, generated secret, attachments)."""
        return self._state_dir

    @property
    def source(self) -> Path | None:
        """The file this config was loaded from, if any."""
        return self._source

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL to connect to, with the SQLite default filled in."""
        return self.database.url or default_database_url(self.state_dir)

    @property
    def message_domain(self) -> str:
        """The domain of the Message-IDs we create: configured, else the first queue's domain."""
        return self.mailbridge.domain or self.queues[0].address.rsplit("@", 1)[1].lower()

    @property
    def outbox_maildir(self) -> Path:
        """Where mail goes when no relay is configured: [outbox] maildir, else STATE_DIR/outbox-maildir."""
        # A relative path is taken from the state directory; an absolute one replaces it.
        return self.state_dir / Path(self.outbox.maildir or "outbox-maildir").expanduser()

    @property
    def sms_log_path(self) -> Path:
        """Where the `log` SMS provider appends: [sms] log_file, relative to the state directory."""
        return self.state_dir / Path(self.sms.log_file).expanduser()

    @property
    def spool_dir(self) -> Path:
        """Where the listener keeps accepted mail until the worker has it in the database."""
        return self.state_dir / "spool"

    @property
    def secret_path(self) -> Path:
        """Where the generated secret is kept when none is configured."""
        return self.state_dir / "secret.key"

    @property
    def catch_all(self) -> QueueConfig | None:
        """The catch-all queue, if one is configured."""
        return next((q for q in self.queues if q.catch_all), None)

    def queue(self, name: str) -> QueueConfig | None:
        """The queue called `name`, if any."""
        # Asked several times per message: by name from a table made once per config.
        return self._queues_by_name.get(name)

    @cached_property
    def _queues_by_name(self) -> dict[str, QueueConfig]:
        return {q.name: q for q in self.queues}

    def oauth_client(self, name: str) -> OAuthClient | None:
        """The [[oauth]] table called `name`, if any."""
        return next((c for c in self.oauth if c.name == name), None)

    @property
    def oauth_dir(self) -> Path:
        """Where `oauth login` keeps the refresh tokens (one JSON file per [[oauth]] table, 0600)."""
        return self.state_dir / "oauth"

    def secrets(self) -> list[str]:
        """Every password and secret the config holds: values no log line may show."""
        from sqlalchemy.engine import make_url  # only here: loading the config imports no database layer

        found = [self.mailbridge.secret, self.outbox.relay_password, make_url(self.database_url).password or ""]
        for account in self.imap:
            found += [account.password, account.oauth2_client_secret]
        found += [client.client_secret for client in self.oauth]
        return [str(value) for value in found if value]

    def secret_bytes(self, *, create: bool = True) -> bytes:
        """The HMAC key: the configured secret, else the one in STATE_DIR/secret.key (made once).

        With `create=False` (a dry run that must write nothing) and no key file yet, a throwaway
        key is returned instead: nothing can have been signed with a key that does not exist.
        """
        if self.mailbridge.secret:
            return self.mailbridge.secret.encode("utf-8")
        if not create and not self.secret_path.exists():
            return secrets.token_hex(32).encode("ascii")
        # Kept after the first read: the pipeline asks for it once per message.
        if self._secret is None:
            self._secret = secret_file_bytes(self.secret_path)
        return self._secret
