"""Every statement the per-message path runs searches an index, on both databases: none reads a whole table.

The path runs for real (intake, pipeline, the worker's claims, the outbox's claim and
bookkeeping) through conversations that take every threading rule, agent answers and openings,
a status request, an auto-reply, a bounce of our mail and a reopen, while a SQLAlchemy event
records each distinct statement with its parameters. Each is then explained with those
parameters. SQLite plans without statistics as if every table were large (mailbridge never runs
ANALYZE), so its plan here is its plan at a million rows. PostgreSQL plans from statistics: the
tables get a few thousand rows and ANALYZE, and the explaining session turns off sequential
scans, hash and merge joins, so that what is left is what a large table gets (a Seq Scan left in
a plan means that no index could serve the statement at all). A full read (SQLite `SCAN
<table>`, PostgreSQL `Seq Scan`, or an index scan without a selecting index condition) of any
table but the few that hold a row per queue or per instance fails the test, with the statement
and its plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import event, text, update

from mailbridge import pipeline, tokens
from mailbridge.config import load_config
from mailbridge.intake import durable
from mailbridge.outgoing import outbox
from mailbridge.service.worker import Worker
from mailbridge.store.models import Attachment, Blob, Message, MessageRef, Outbox, RawMessage, Ticket
from mailbridge.store.types import utcnow

SECRET = "query-plans-secret-0123456789abcdef"
CUSTOMER = "klient@firma.pl"
AGENT = "anna.kowalska@example.com"
# Tables with a row per queue (ticket code counters) or per instance/mailbox: reading them whole is cheap.
SMALL_TABLES = frozenset({"code_counter", "heartbeat", "imap_mailbox"})
# Every threading rule and placement the conversations below must take, so that a change which
# stops one of them from happening here cannot leave its statements unchecked.
RULES = {"new", "stored-reference", "reply-token", "our-message-id", "referenced-by", "shared-reference",
         "subject-code", "duplicate", "same-bytes", "report-of", "closed-ticket-new", "agent-phone"}
# Statements of the worker and the outbox that only the steps after the conversations run.
CLAIMS = ("FROM raw_message WHERE raw_message.state", "raw_attempt", "FROM outbox WHERE outbox.state",
          "UPDATE outbox SET state", "WHERE outbox.message_id")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "mailbridge.toml"
    path.write_text(
        f'[mailbridge]\nstate_dir = "{tmp_path / "state"}"\nsecret = "{SECRET}"\n'
        '[listener]\nport = 0\nhostname = "mx.example.com"\n'
        '[[queues]]\nname = "dynamics"\naddress = "pomoc-dynamics@example.com"\ncode_prefix = "DYN"\n'
        f'language = "pl"\nagents = ["{AGENT}"]\n'
        '[[queues]]\nname = "soporte"\naddress = "soporte@example.com"\ncode_prefix = "SOP"\n'
        'language = "es"\nagents = ["lucia.garcia@example.com"]\n',
        encoding="utf-8",
    )
    (tmp_path / "state").mkdir()
    return load_config(path, env={})


def test_the_per_message_path_reads_no_table_whole(database, config):
    with _capturing(database) as statements:
        rules = _run_the_path(database, config)
    assert RULES <= rules, f"the conversations no longer take {sorted(RULES - rules)}"
    flat = [" ".join(statement.split()) for statement in statements]
    for part in CLAIMS:
        assert any(part in statement for statement in flat), f"no statement with {part!r} ran"
    _filler(database)
    offending = []
    for statement, parameters in statements.items():
        plan = _plan(database, statement, parameters)
        if full_reads(plan, database.dialect):
            offending.append(f"{statement}\n  " + "\n  ".join(plan))
    assert not offending, f"{len(offending)} of {len(statements)} statements read a whole table:\n\n" + \
        "\n\n".join(offending)


def test_the_check_sees_a_full_read(database):
    # The check itself can fail: a lookup on a column without an index is a full read on both.
    statement = "SELECT id FROM message WHERE text = " + ("?" if database.dialect == "sqlite" else "%(t)s")
    parameters = ("x",) if database.dialect == "sqlite" else {"t": "x"}
    assert full_reads(_plan(database, statement, parameters), database.dialect) == ["message"]
    # So do PostgreSQL's ways round enable_seqscan: a whole index in order, every row with a value.
    if database.dialect == "postgresql":
        for whole in ("SELECT id FROM message ORDER BY id", "SELECT id FROM message WHERE ticket_id IS NOT NULL"):
            plan = _plan(database, whole, {})
            assert full_reads(plan, database.dialect) == ["message"], plan


def test_claiming_pending_mail_reads_only_the_pending_rows(database, config):
    # The worker takes pending rows oldest first. Behind a burst of mail, PostgreSQL's planner
    # walked the primary key from the oldest processed row instead (its statistics cannot tell
    # that pending rows are the newest), reading every stored message at each claim. A claim
    # finds the pending rows' ids and sizes first (it takes at most `durable.BATCH_BYTES` of
    # mail), then loads those rows by their ids.
    _backlog(database, done=20_000, pending=200)
    stops = iter([False])
    with _capturing(database, lambda statement: "FROM raw_message" in statement) as statements:
        # A stop right after the first claim: the claimed rows are given back unprocessed.
        Worker(db=database, config=config).drain(should_stop=lambda: next(stops, True))
        durable.pending_raw(database)
    by_state = {statement: parameters for statement, parameters in statements.items()
                if "WHERE raw_message.state" in statement}
    assert by_state and len(by_state) < len(statements)
    for statement, parameters in statements.items():
        plan = _plan(database, statement, parameters, seqscan=True)
        if statement in by_state:
            # An index finds the pending rows, in the order they are taken: nothing else is read or sorted.
            searched = r"^SEARCH raw_message USING (COVERING )?INDEX \w+ \(state=\?\)" \
                if database.dialect == "sqlite" else r"Index Cond: \(\(state\)::text = 'pending'::text\)"
        else:
            # The claimed rows themselves, by their primary key.
            searched = r"^SEARCH raw_message USING INTEGER PRIMARY KEY" if database.dialect == "sqlite" \
                else r"Index Scan using pk_raw_message on raw_message"
        assert re.search(searched, "\n".join(plan), re.M), plan
        assert not any("Sort" in line or "TEMP B-TREE" in line for line in plan), plan


@contextmanager
def _capturing(db, wanted: Callable[[str], bool] = lambda statement: True) -> Iterator[dict[str, object]]:
    """Each distinct statement the block runs (SELECT, INSERT, UPDATE, DELETE, WITH …), with its first parameters."""
    statements: dict[str, object] = {}

    def record(_connection, _cursor, statement, parameters, _context, executemany) -> None:
        # SAVEPOINT, PRAGMA and the like have no plan.
        if statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")) and wanted(statement):
            statements.setdefault(statement, _first(parameters, executemany))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def full_reads(plan: list[str], dialect: str) -> list[str]:
    """The tables (other than SMALL_TABLES) that a plan reads from end to end."""
    tables = _sqlite_scans(plan) if dialect == "sqlite" else _postgres_scans(plan)
    return [table for table in tables if table not in SMALL_TABLES]


def _sqlite_scans(plan: list[str]) -> list[str]:
    # `SCAN t` (the table) and `SCAN t USING [COVERING] INDEX i` (a whole index) read every row;
    # `SCAN CONSTANT ROW` is a VALUES list. `SEARCH` is a lookup.
    found = (re.match(r"SCAN (\w+)", line.strip()) for line in plan if "CONSTANT ROW" not in line)
    return [match.group(1) for match in found if match]


def _postgres_scans(plan: list[str]) -> list[str]:
    tables = []
    heap = ""  # a Bitmap Index Scan names its index; the table is in the Bitmap Heap Scan above it
    for number, line in enumerate(plan):
        if match := re.search(r"Bitmap Heap Scan on (\w+)", line):
            heap = match.group(1)
        elif match := re.search(r"Seq Scan on (\w+)", line):
            tables.append(match.group(1))
        elif match := re.search(r"(?:Index|Index Only) Scan(?: Backward)? using \w+ on (\w+)", line):
            if not _has_index_condition(plan[number + 1:]):
                tables.append(match.group(1))
        elif "Bitmap Index Scan on " in line and not _has_index_condition(plan[number + 1:]):
            tables.append(heap)
    return tables


def _has_index_condition(following: list[str]) -> bool:
    """Whether the node whose detail lines come first in `following` has an Index Cond that selects.

    `x IS NOT NULL` alone does not: it reads every row that has a value.
    """
    for line in following:
        if "->" in line or line.lstrip().startswith(("InitPlan", "SubPlan")):
            return False  # the next node: this one's details are over
        if line.lstrip().startswith("Index Cond:"):
            return not re.fullmatch(r"Index Cond: \(\w+ IS NOT NULL\)", line.strip())
    return False


def _first(parameters, executemany: bool):
    """The parameters of one execution: an executemany's first set, or a batched multi-row INSERT's flat tuple.

    SQLAlchemy's "insertmanyvalues" sends several rows as one INSERT … VALUES (…), (…) whose
    parameters are one flat sequence, still flagged as executemany.
    """
    if executemany and isinstance(parameters, (list, tuple)) and parameters \
            and isinstance(parameters[0], (tuple, list, dict)):
        return parameters[0]
    return parameters


def _plan(database, statement: str, parameters, *, seqscan: bool = False) -> list[str]:
    """The plan of `statement`; on PostgreSQL with sequential scans off unless `seqscan`."""
    with database.engine.connect() as connection, connection.begin() as transaction:
        if database.dialect == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(parameters or ())).all()
            plan = [row[-1] for row in rows]
        else:
            if not seqscan:
                # As if every table were large: lookups by index, joins by lookups into the other
                # table (a tiny test table would otherwise be read whole, or hashed whole).
                for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                    connection.execute(text(f"SET LOCAL {setting} = off"))
            rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters or None).all()
            plan = [row[0] for row in rows]
        transaction.rollback()
    return plan


# --- The path ---------------------------------------------------------------------------------


def _run_the_path(db, config) -> set[str]:
    """Conversations through intake and the pipeline, then the worker's and the outbox's claims; the rules taken."""
    secret = config.secret_bytes()
    rules: set[str] = set()

    def ingest(raw: bytes) -> pipeline.Outcome:
        outcome = pipeline.ingest(raw, db=db, config=config, now=utcnow(), source="test", received_at=utcnow())
        assert outcome.kind != "quarantined", outcome.error
        rules.add(outcome.rule)
        return outcome

    first = _mail(CUSTOMER, "pomoc-dynamics@example.com", "Nie mogę się zalogować", "Błąd 403.\n",
                  message_id="<first@firma.pl>", cc="kolega@firma.pl", attachment=b"%PDF-1.4 plan\n")
    opened = ingest(first)
    ticket_id = _ticket_id(db, opened.ticket_code)
    token = tokens.ticket_token(ticket_id, secret)
    ack = _outbox_message_id(db, f"ack:{ticket_id}")
    ingest(first)  # the same bytes again
    ingest(_mail(CUSTOMER, "pomoc-dynamics@example.com", "Nie mogę", "Inna treść.\n", message_id="<first@firma.pl>"))
    ingest(_mail(CUSTOMER, "pomoc-dynamics@example.com", "Re: Nie mogę", "Dalej.\n", in_reply_to="<first@firma.pl>"))
    ingest(_mail(CUSTOMER, f"pomoc-dynamics+{token}@example.com", "Re: x", "Jeszcze.\n"))
    ingest(_mail(CUSTOMER, "pomoc-dynamics@example.com", "Re: x", "Po ack.\n", in_reply_to=f"<{ack}>"))
    ingest(_mail("kolega@firma.pl", "pomoc-dynamics@example.com", f"Re: [{opened.ticket_code}] x", "Też.\n"))
    ingest(_auto_reply(f"<{ack}>"))
    ingest(_bounce(ack))
    # A reply that comes before its original, then the original; and a sibling of a shared parent.
    ingest(_mail(CUSTOMER, "soporte@example.com", "Re: pedido", "Sí.\n", in_reply_to="<late@firma.pl>",
                 references="<outside@lista.pl> <late@firma.pl>"))
    ingest(_mail(CUSTOMER, "soporte@example.com", "pedido", "Original.\n", message_id="<late@firma.pl>"))
    ingest(_mail(CUSTOMER, "soporte@example.com", "Re: pedido", "Yo también.\n", in_reply_to="<outside@lista.pl>"))
    # An agent's answer with a command, a status request, the agent resolving, the customer reopening.
    proof = {"in_reply_to": f"<{tokens.our_message_id(ticket_id, secret, 'example.com')}>"}
    ingest(_mail(AGENT, f"pomoc-dynamics+{token}@example.com", "Re: x", "#priority urgent\nProszę spróbować.\n",
                 attachment=b"%PDF-1.4 odpowiedz\n", **proof))
    ingest(_mail(CUSTOMER, "pomoc-dynamics@example.com", f"Re: [{opened.ticket_code}]", "status\n"))
    ingest(_mail(AGENT, f"pomoc-dynamics+{token}@example.com", "Re: x", "#resolve\nRozwiązane.\n", **proof))
    ingest(_mail(CUSTOMER, f"pomoc-dynamics+{token}@example.com", "Re: x", "Nie działa.\n"))
    _close_long_ago(db, ticket_id)
    ingest(_mail(CUSTOMER, f"pomoc-dynamics+{token}@example.com", "Re: x", "Znowu.\n"))
    ingest(_mail(AGENT, "pomoc-dynamics@example.com", "Telefon", "#phone nowy@firma.pl\nDzwonił.\n"))
    _worker_and_outbox(db, config)
    return rules


def _worker_and_outbox(db, config) -> None:
    for number in range(3):
        raw = _mail(CUSTOMER, "soporte@example.com", f"Pregunta {number}", "Hola.\n")
        durable.accept_raw(raw, db=db, source="smtp:test", received_at=utcnow())
    assert Worker(db=db, config=config).drain() == 3
    now = utcnow()
    claimed = outbox.claim(db, now, limit=3, owner="test")
    assert len(claimed) == 3
    outbox.mark_sent(db, [claimed[0].id], now)
    outbox.mark_retry(db, claimed[1], now, "451 later", max_attempts=5)
    outbox.give_back(db, [claimed[2].id], now)
    outbox.resume(db, "test", now)


def _mail(sender: str, to: str, subject: str, body: str, *, message_id: str | None = None, cc: str | None = None,
          in_reply_to: str | None = None, references: str | None = None, attachment: bytes | None = None) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    if cc:
        mail["Cc"] = cc
    mail["Date"] = "Thu, 03 Dec 2026 10:00:00 +0100"
    mail["Message-ID"] = message_id or f"<{_counter()}@firma.pl>"
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = references or in_reply_to
    mail.set_content(body)
    if attachment:
        mail.add_attachment(attachment, maintype="application", subtype="pdf", filename="plik.pdf")
    return mail.as_bytes()


def _auto_reply(in_reply_to: str) -> bytes:
    raw = _mail(CUSTOMER, "pomoc-dynamics@example.com", "Automatyczna odpowiedź: x", "Jestem na urlopie.\n",
                in_reply_to=in_reply_to)
    return b"Auto-Submitted: auto-replied\r\n" + raw


def _bounce(original: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.firma.pl\r\nTo: pomoc-dynamics@example.com\r\nSubject: Undelivered Mail\r\n"
        f"Message-ID: <{_counter()}@mx.firma.pl>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.firma.pl\r\n\r\n"
        f"Final-Recipient: rfc822; {CUSTOMER}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{original}>\r\nTo: {CUSTOMER}\r\n\r\n"
        "--b--\r\n"
    ).encode()


_NUMBERS = iter(range(1, 1_000_000))


def _counter() -> str:
    return f"m{next(_NUMBERS)}"


def _ticket_id(db, code: str) -> int:
    with db.engine.connect() as connection:
        return connection.execute(Ticket.__table__.select().where(Ticket.code == code)).one().id


def _outbox_message_id(db, intent: str) -> str:
    with db.engine.connect() as connection:
        return connection.execute(Outbox.__table__.select().where(Outbox.intent == intent)).one().message_id


def _filler(db, count: int = 2000) -> None:
    """Tickets with a message, a reference, an attachment and an acknowledgement each, then statistics.

    PostgreSQL plans a join by its statistics: over the few rows the conversations leave, driving
    it from every ticketed message is as cheap as from the references looked up, and
    `enable_seqscan = off` cannot tell it otherwise. A few thousand rows make its choice the one
    it makes on a real database (SQLite, without statistics, plans the same either way).
    """
    now = utcnow()
    people = [f"filler{number}@example.net" for number in range(count)]
    with db.engine.begin() as connection:
        first = connection.execute(text("SELECT coalesce(max(id), 0) FROM ticket")).scalar_one() + 1
        connection.execute(Ticket.__table__.insert(), [
            {"id": first + n, "code": f"FIL-{n:06d}", "queue": "dynamics", "status": "open", "priority": "routine",
             "type": "question", "requester": person, "requester_name": "", "subject": "s", "created_at": now,
             "updated_at": now, "received_at": now, "reopened_count": 0} for n, person in enumerate(people)])
        message = connection.execute(text("SELECT coalesce(max(id), 0) FROM message")).scalar_one() + 1
        connection.execute(Message.__table__.insert(), [
            {"id": message + n, "ticket_id": first + n, "message_id": f"filler-{n}@example.net", "direction": "in",
             "kind": "customer", "sender": person, "sender_name": "", "recipients": [], "subject": "s", "text": "",
             "reply_text": "", "received_at": now, "route_rule": "", "route_detail": "", "thread_rule": "",
             "thread_detail": "", "defects": []} for n, person in enumerate(people)])
        connection.execute(MessageRef.__table__.insert(), [
            {"message_row_id": message + n, "ref": f"filler-parent-{n}@example.net", "kind": "in-reply-to"}
            for n in range(count)])
        connection.execute(Blob.__table__.insert(), [{"sha256": "f" * 64, "size": 1, "data": b"x"}])
        connection.execute(Attachment.__table__.insert(), [
            {"message_row_id": message + n, "filename": "a.pdf", "safe_name": "a.pdf", "content_type": "application/pdf",
             "size": 1, "sha256": "f" * 64, "inline": False} for n in range(count)])
        connection.execute(Outbox.__table__.insert(), [
            {"intent": f"ack:{first + n}", "kind": "ack", "ticket_id": first + n, "message_id": f"ack-{n}@example.com",
             "mail_from": "pomoc-dynamics@example.com", "recipient": person, "content": b"x", "automatic": True,
             "state": "sent", "attempts": 1, "next_attempt_at": now, "created_at": now, "last_error": ""}
            for n, person in enumerate(people)])
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
        # The ids were given: the sequences must move past them for whatever the next test inserts.
        with db.engine.begin() as connection:
            for table in ("ticket", "message"):
                connection.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                           f"(SELECT max(id) FROM {table}))")


def _backlog(db, *, done: int, pending: int) -> None:
    """Processed raw rows, then newer pending ones, with fresh statistics on PostgreSQL."""
    now = utcnow()
    rows = [{"sha256": f"{number:064x}", "content": b"Subject: x\r\n\r\nx\r\n", "size": 15, "source": "smtp:test",
             "envelope_from": None, "envelope_rcpts": [], "received_at": now,
             "state": "done" if number <= done else "pending"}
            for number in range(1, done + pending + 1)]
    with db.engine.begin() as connection:
        connection.execute(RawMessage.__table__.insert(), rows)
    if db.dialect == "postgresql":
        # mailbridge never runs ANALYZE on SQLite, whose planner then takes every table for large.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE raw_message")


def _close_long_ago(db, ticket_id: int) -> None:
    # Closed before the reopen window: the next reply opens a new ticket linked to this one.
    long_ago = utcnow() - timedelta(days=400)
    with db.engine.begin() as connection:
        connection.execute(update(Ticket.__table__).where(Ticket.id == ticket_id)
                           .values(status="closed", closed_at=long_ago))
