"""Test support for agents answering by mail: a mailbridge whose relay is a sink, and agent replies from fixtures.

The fixtures in tests/fixtures/agents are mail as Outlook, Gmail, Thunderbird and Apple Mail
write it, with placeholders for what only the notice they answer knows (see
tests/fixtures/agents/README.md); `reply_to_notice` fills them in from a notice the sink received.
"""

from __future__ import annotations

import base64
import email
import email.policy
import quopri
import uuid
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

from sqlmodel import select

from mailbridge import pipeline
from mailbridge.config import load_config
from mailbridge.outgoing.outbox_worker import OutboxWorker
from mailbridge.store import repo
from mailbridge.store.models import Message, Outbox, Ticket

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "agents"
SECRET = "agents-tests-secret-0123456789abcdef"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # Thursday, 10:00 in Warsaw
QUEUES = """
[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"
language = "pl"
display_name = "Pomoc Dynamics"
agents = ["anna.kowalska@example.com", "piotr.nowak@example.com"]
time_zone = "Europe/Warsaw"
calendar = "pl"

[[queues]]
name = "soporte"
address = "soporte@example.com"
code_prefix = "SOP"
language = "es"
display_name = "Soporte"
agents = ["lucia.garcia@example.com", "jorge.ruiz@example.com"]
time_zone = "America/Bogota"
calendar = "co"

[calendars.pl]
zone = "Europe/Warsaw"
country = "PL"

[calendars.co]
zone = "America/Bogota"
country = "CO"

[[customers]]
name = "Empresa Oro"
match = ["@oro.example.co"]
plan = "gold"
agent = "jorge.ruiz@example.com"
"""
# A screenshot an agent attaches: bigger than a logo, so it is a file, not a decoration.
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 80


def config_text(tmp_path: Path, database_url: str, *, relay_port: int, extra: str = "") -> str:
    return (f'[mailbridge]\nstate_dir = "{tmp_path / "state"}"\nsecret = "{SECRET}"\n'
            f'[database]\nurl = "{database_url}"\n'
            f'[outbox]\nrelay_host = "127.0.0.1"\nrelay_port = {relay_port}\nrelay_tls = "none"\n'
            f'relay_timeout_seconds = 5\n{extra}\n{QUEUES}')


class World:
    """One mailbridge (config, database) whose relay is a sink on loopback, with a settable clock."""

    def __init__(self, database, tmp_path: Path, sink, *, extra: str = "") -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        path = tmp_path / "mailbridge.toml"
        path.write_text(config_text(tmp_path, database.url, relay_port=sink.port, extra=extra), encoding="utf-8")
        self.config = load_config(path, env={})
        self.db = database
        self.sink = sink
        self.now = NOW
        self.worker = OutboxWorker(db=database, config=self.config, clock=lambda: self.now)

    def ingest(self, raw: bytes | str, envelope_from: str | None = None):
        if isinstance(raw, str):
            raw = fixture(raw)
        return pipeline.ingest(raw, db=self.db, config=self.config, now=self.now, source="test",
                               received_at=self.now, envelope_from=envelope_from)

    def send(self) -> int:
        return self.worker.drain()

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.sink.received if r.rcpt_tos == [address]]

    def ticket(self, code: str) -> Ticket:
        with self.db.session() as session:
            return repo.ticket_by_code(code, session=session)

    def messages(self, code: str) -> list[Message]:
        with self.db.session() as session:
            return repo.messages_of(repo.ticket_by_code(code, session=session).id, session=session)

    def outbox(self, **where) -> list[Outbox]:
        with self.db.session() as session:
            statement = select(Outbox).order_by(Outbox.id)
            for key, value in where.items():
                statement = statement.where(getattr(Outbox, key) == value)
            return list(session.exec(statement))

    def participants(self, code: str) -> set[tuple[str, str]]:
        with self.db.session() as session:
            ticket = repo.ticket_by_code(code, session=session)
            return {(p.address, p.role) for p in repo.participants_of(ticket.id, session=session)}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def reply_to_notice(name: str, notice: EmailMessage, **more: str) -> bytes:
    """The fixture `name` filled in as an answer to `notice` (its Reply-To, Message-ID, subject)."""
    subject = str(notice["Subject"])
    values = {
        "REPLY_TO": email.utils.parseaddr(str(notice["Reply-To"]))[1],
        "NOTICE_ID": str(notice["Message-ID"]).strip(),
        "NOTICE_REFERENCES": str(notice["References"] or "").strip(),
        "RE_NOTICE_SUBJECT": Header("RE: " + subject, "utf-8").encode(),
        "NOTICE_SUBJECT_PLAIN": _qp_iso_8859_2(subject),
        "CODE": str(notice["X-Mailbridge-Ticket"]),
        "MSGID": f"{uuid.uuid4().hex}@agent.example.com",
        "SCREENSHOT_BASE64": base64.encodebytes(SCREENSHOT).decode("ascii"),
        **more,
    }
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    return text.encode("utf-8")


def _qp_iso_8859_2(text: str) -> str:
    # The Outlook fixture's parts are quoted-printable ISO-8859-2: so is what is put into them.
    return quopri.encodestring(text.encode("iso-8859-2", "replace"), quotetabs=False).decode("ascii").replace("=\n", "")


def plain(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html(mail: EmailMessage) -> str | None:
    part = mail.get_body(("html",))
    return part.get_content() if part is not None else None


def files(mail: EmailMessage) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True) for part in mail.iter_attachments()}


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)
