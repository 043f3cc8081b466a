"""`mailbridge ingest --import`: history in, no mail out; plain `ingest` asks before mailing many people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlmodel import func, select
from typer.testing import CliRunner

from mailbridge.cli import _register, app
from mailbridge.store.db import open_database
from mailbridge.store.models import Message, Outbox, RawMessage, Ticket

_register()

CONFIG = """
[mailbridge]
state_dir = "{state}"
secret = "import-tests-secret-0123456789abcdef"

[import]
close_after_days = 14

[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"
language = "pl"
agents = ["anna.agent@example.com"]

[[queues]]
name = "soporte"
address = "soporte@example.com"
code_prefix = "SOP"
language = "es"
agents = ["lucia.agente@example.com"]
"""
SUBJECTS = {"dynamics": ("Błąd płatności", "Dzień dobry, nie mogę opłacić faktury."),
            "soporte": ("No puedo entrar", "Buenos días, no puedo iniciar sesión desde ayer.")}


def _message(thread: int, turn: int, received: datetime) -> str:
    queue = "dynamics" if thread % 2 == 0 else "soporte"
    subject, body = SUBJECTS[queue]
    to = "pomoc-dynamics@example.com" if queue == "dynamics" else "soporte@example.com"
    own = f"<t{thread}.m{turn}@klient.example.org>"
    headers = [f"Received: from mx.example.org by mail.example.com; {format_datetime(received)}",
               f"From: Klient {thread} <klient{thread}@firma.example.pl>", f"To: {to}",
               f"Subject: {'Re: ' if turn else ''}{subject} #{thread}",
               f"Date: {format_datetime(received)}", f"Message-ID: {own}",
               "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    if turn:
        parent = f"<t{thread}.m{turn - 1}@klient.example.org>"
        headers += [f"In-Reply-To: {parent}", f"References: {parent}"]
    return "\n".join(headers) + f"\n\n{body} ({turn})\n"


def write_mbox(path: Path, threads: int, per_thread: int, *, now: datetime, recent: int) -> Path:
    """`threads` conversations of `per_thread` messages; the last `recent` ones from the last days."""
    with path.open("w", encoding="utf-8") as mbox:
        for thread in range(threads):
            start = now - timedelta(days=2) if thread >= threads - recent else now - timedelta(days=400 - thread % 300)
            for turn in range(per_thread):
                received = start + timedelta(hours=turn)
                mbox.write(f"From klient{thread}@firma.example.pl {received:%a %b %d %H:%M:%S %Y}\n")
                mbox.write(_message(thread, turn, received) + "\n")
    return path


def _run(tmp_path: Path, *args: str):
    config = tmp_path / "mailbridge.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state"), encoding="utf-8")
    return CliRunner().invoke(app, ["ingest", "--config", str(config), *args])


def _count(db, model, *where) -> int:
    with db.session() as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_importing_2000_old_messages_queues_no_mail_and_closes_the_idle_tickets(tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    mbox = write_mbox(tmp_path / "history.mbox", threads=500, per_thread=4, now=now, recent=10)
    result = _run(tmp_path, "--import", str(mbox))
    assert result.exit_code == 0, result.output
    assert "2000 message(s): created 500, threaded 1500, duplicates 0, dropped 0, quarantined 0" in result.output
    assert "no mail queued; 490 ticket(s) idle for more than 14 days set closed" in result.output
    db = open_database(f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}")
    try:
        assert _count(db, Outbox) == 0
        assert _count(db, Message) == 2000
        assert _count(db, RawMessage, RawMessage.state == "done") == 2000
        assert _count(db, Ticket, Ticket.status == "closed") == 490
        assert _count(db, Ticket, Ticket.status != "closed") == 10
        with db.session() as session:
            first = session.exec(select(Ticket).where(Ticket.code == "DYN-000001")).one()
        # Clocks as of the message's own receipt, closed a second after the last message.
        assert first.received_at == now - timedelta(days=400)
        assert first.created_at == first.received_at
        assert first.closed_at == first.received_at + timedelta(hours=3, seconds=1)
        assert first.next_due_at is None
    finally:
        db.dispose()


def test_plain_ingest_of_many_messages_refuses_without_a_terminal_and_says_how_to_import(tmp_path):
    mbox = write_mbox(tmp_path / "old.mbox", threads=6, per_thread=2, now=datetime.now(UTC), recent=0)
    result = _run(tmp_path, str(mbox))
    assert result.exit_code == 1
    assert "12 messages: ingested as live mail" in result.output
    assert "mailbridge ingest --import" in result.output and "--yes" in result.output
    assert not (tmp_path / "state" / "mailbridge.sqlite3").exists()


def test_plain_ingest_with_yes_queues_the_acknowledgements(tmp_path):
    mbox = write_mbox(tmp_path / "live.mbox", threads=6, per_thread=2, now=datetime.now(UTC), recent=6)
    result = _run(tmp_path, "--yes", str(mbox))
    assert result.exit_code == 0, result.output
    db = open_database(f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}")
    try:
        # An acknowledgement per new customer and a notice per message to the queue's agent.
        assert _count(db, Outbox, Outbox.kind == "ack") == 6
        assert _count(db, Outbox, Outbox.kind.in_(("agent_new", "agent_reply"))) == 12
    finally:
        db.dispose()


def test_history_processed_by_the_normal_path_queues_no_mail(tmp_path):
    """History is marked by its source: the worker after a crash or a quarantine retry stays quiet too."""
    from mailbridge import pipeline
    from mailbridge.config import load_config

    config_path = tmp_path / "mailbridge.toml"
    config_path.write_text(CONFIG.format(state=tmp_path / "state"), encoding="utf-8")
    config = load_config(config_path, env={})
    (tmp_path / "state").mkdir()
    db = open_database(config.database_url)
    try:
        received = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
        raw = _message(0, 0, received).encode()
        outcome = pipeline.ingest(raw, db=db, config=config, now=datetime.now(UTC), source="import:/old.mbox#1",
                                  received_at=received)
        assert outcome.kind == "created"
        assert _count(db, Outbox) == 0
    finally:
        db.dispose()


def _on_a_terminal(args: list[str], answer: bytes) -> tuple[int, bytes]:
    """Run the command on a pseudo-terminal, answering its question with `answer`."""
    import os
    import pty
    import subprocess
    import sys

    controller, terminal = pty.openpty()
    process = subprocess.Popen([str(Path(sys.executable).with_name("mailbridge")), *args], stdin=terminal,
                               stdout=terminal, stderr=terminal, env={**os.environ, "COLUMNS": "200"})
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        output += chunk
        if b"queue that mail? [y/N]" in output and answer:
            os.write(controller, answer)
            answer = b""
    os.close(controller)
    return process.wait(timeout=120), output


def test_on_a_terminal_plain_ingest_of_many_messages_asks_first_and_no_means_nothing_written(tmp_path):
    mbox = write_mbox(tmp_path / "old.mbox", threads=6, per_thread=2, now=datetime.now(UTC), recent=0)
    config = tmp_path / "mailbridge.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state"), encoding="utf-8")
    code, output = _on_a_terminal(["ingest", "--config", str(config), str(mbox)], b"n\n")
    assert code == 1
    assert b"warning: 12 messages: ingested as live mail" in output and b"mailbridge ingest --import" in output
    assert not (tmp_path / "state" / "mailbridge.sqlite3").exists()
