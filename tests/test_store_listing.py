"""`store.listing` reads the very rows, order and values of the ORM's ticket listings, on SQLite and PostgreSQL.

`mailbridge tickets list` reads through the database driver (no SQLAlchemy, for its start-up);
the rest of mailbridge uses `repo.list_tickets` and `repo_clock.overdue`. Every filter, on a
database with tickets of several queues and statuses, SLA clocks (some overdue), ties in the
sort keys and microseconds in the times, must give equal answers, down to each datetime's
`repr` (aware, in UTC). Where the listing cannot read directly it must say so (None), so that
the command takes the usual path and its error messages.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import make_url

from mailbridge import pipeline, present, status
from mailbridge.config import load_config
from mailbridge.store import listing, repo, repo_clock
from mailbridge.store.models import Ticket
from mailbridge.store.statuses import TICKET_STATUSES

PROJECT = Path(__file__).resolve().parents[1]
CONFIG = PROJECT / "tests" / "fixtures" / "sla" / "mailbridge.toml"
WARSAW = ZoneInfo("Europe/Warsaw")
START = datetime(2026, 11, 23, 9, 0, tzinfo=WARSAW).astimezone(UTC)
QUEUES = [None, "dynamics", "soporte", "nosuchqueue"]
LIMITS = [1, 3, 200]
# As of these instants some, all or none of the tickets are past a due time.
OVERDUE_AS_OF = [START - timedelta(days=1), START + timedelta(hours=3, minutes=30), START + timedelta(days=30)]


@pytest.fixture
def config(database, tmp_path):
    env = {"MAILBRIDGE_TEST_DATABASE_URL": database.url, "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}
    return load_config(CONFIG, env=env)


@pytest.fixture
def populated(database, config):
    """Tickets of two queues in every status, with clocks, overdue ones, and ties in `updated_at`."""
    for number in range(8):
        queue_address = "pomoc-dynamics@example.com" if number % 3 else "soporte@example.com"
        # Microseconds in the times: the SQLite text and PostgreSQL's values must round-trip them.
        when = START + timedelta(minutes=37 * number, microseconds=123457 * number)
        raw = (f"Message-ID: <listing-{number}@klient.pl>\nFrom: klient{number}@klient.pl\nTo: {queue_address}\n"
               f"Subject: Sprawa {number}\nContent-Type: text/plain; charset=utf-8\n\nFaktura {number}.\n").encode()
        pipeline.ingest(raw, db=database, config=config, now=when, source="test", received_at=when)
    with database.session() as session:
        codes = [t.code for t in repo.list_tickets(session=session)]
    secret = config.secret_bytes()
    later = START + timedelta(hours=6)
    for code, action in zip(codes, ["resolve", "close", "resolve", "close"]):
        status.change_status(code, action, db=database, config=config, secret=secret, now=later)
    status.change_status(codes[2], "reopen", db=database, config=config, secret=secret, now=later)
    with database.session() as session:
        # Two tickets share an update time (the id breaks the tie), one is pending, one open.
        session.execute(update(Ticket).where(Ticket.code.in_(codes[4:6])).values(updated_at=later))
        session.execute(update(Ticket).where(Ticket.code == codes[6]).values(status="pending"))
        session.execute(update(Ticket).where(Ticket.code == codes[7]).values(status="open"))
    return codes


def _fields(tickets) -> list[str]:
    """Every field of every ticket, by `repr`: a naive datetime or another zone would differ."""
    return [repr(tuple(getattr(t, name) for name in listing.TicketRow._fields)) for t in tickets]


def test_the_row_has_the_columns_of_the_ticket_table():
    assert listing.TicketRow._fields == tuple(Ticket.__table__.columns.keys())


def test_the_listing_equals_the_orm_for_every_filter(database, populated):
    statuses_seen = set()
    for queue in QUEUES:
        for wanted in [None, *TICKET_STATUSES]:
            for limit in LIMITS:
                with database.session() as session:
                    expected = repo.list_tickets(session=session, queue=queue, status=wanted, limit=limit)
                read = listing.list_tickets(database.url, queue=queue, status=wanted, limit=limit)
                assert _fields(read) == _fields(expected), (queue, wanted, limit)
                statuses_seen |= {t.status for t in read}
    assert statuses_seen == set(TICKET_STATUSES)  # the database did hold every status


def test_the_overdue_listing_equals_the_orm(database, populated):
    sizes = set()
    for now in OVERDUE_AS_OF:
        for queue in QUEUES:
            for limit in LIMITS:
                with database.session() as session:
                    expected = repo_clock.overdue(session=session, now=now, queue=queue, limit=limit)
                read = listing.overdue(database.url, now=now, queue=queue, limit=limit)
                assert _fields(read) == _fields(expected), (now, queue, limit)
                sizes.add(len(read))
    assert {0, 2, 4}.issubset(sizes)  # none, some and all of those with a clock were overdue


def test_now_is_compared_as_an_instant_whatever_its_zone(database, populated):
    now = START + timedelta(hours=3, minutes=30)
    in_utc = listing.overdue(database.url, now=now)
    assert in_utc and listing.overdue(database.url, now=now.astimezone(ZoneInfo("America/Bogota"))) == in_utc


# SQLite stores UTC text; only PostgreSQL converts to a session time zone.
@pytest.mark.parametrize("database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_times_are_utc_whatever_the_sessions_time_zone(database, populated):
    url = make_url(database.url).update_query_dict({"options": "-cTimeZone=Asia/Kolkata"})
    read = listing.list_tickets(url.render_as_string(hide_password=False))
    with database.session() as session:
        assert _fields(read) == _fields(repo.list_tickets(session=session))
    assert {t.updated_at.tzinfo for t in read} == {UTC}


def test_the_listing_shows_as_the_orm_rows_do(database, populated):
    with database.session() as session:
        expected = repo.list_tickets(session=session)
    read = listing.list_tickets(database.url)
    assert present.tickets_table(read) == present.tickets_table(expected)
    assert [present.ticket_json(t) for t in read] == [present.ticket_json(t) for t in expected]


def test_a_database_at_another_schema_revision_is_left_to_the_full_path(database, populated):
    assert listing.list_tickets(database.url) is not None
    with database.engine.begin() as connection:
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        assert listing.list_tickets(database.url) is None
        assert listing.overdue(database.url, now=START) is None
    finally:
        with database.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})


def test_what_cannot_be_read_directly_answers_none(empty_database_url, tmp_path):
    missing = tmp_path / "nowhere" / "mailbridge.sqlite3"
    assert listing.list_tickets(f"sqlite:///{missing}") is None
    assert not missing.parent.exists()  # and nothing was created
    assert listing.list_tickets(empty_database_url) is None  # no schema at all
    assert listing.list_tickets("postgresql+psycopg://nobody@127.0.0.1:1/none") is None  # nobody listens
    assert listing.list_tickets("sqlite://") is None  # in memory: SQLAlchemy's case


# The file's bytes are SQLite's; PostgreSQL's read-only session is set by `listing` itself.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_listing_writes_nothing(database, populated):
    path = Path(make_url(database.url).database)
    database.dispose()  # checkpoints the WAL: the file alone holds the database
    before = path.read_bytes()
    assert listing.list_tickets(database.url)
    assert path.read_bytes() == before


def test_importing_the_listing_loads_no_sqlalchemy():
    script = ("import sys, mailbridge.store.listing; "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'sqlmodel', 'alembic')))")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("options", "filters"), [
    ([], {}),
    (["--json"], {}),
    (["--queue", "soporte"], {"queue": "soporte"}),
    (["--status", "closed", "--json"], {"status": "closed"}),
    (["--queue", "dynamics", "--status", "new", "--limit", "1"], {"queue": "dynamics", "status": "new", "limit": 1}),
    (["--overdue", "--now", "2026-11-23T12:30:00+01:00"], {"now": datetime(2026, 11, 23, 11, 30, tzinfo=UTC)}),
    (["--overdue", "--queue", "dynamics", "--now", "2026-12-24T00:00:00Z", "--json"],
     {"now": datetime(2026, 12, 24, tzinfo=UTC), "queue": "dynamics"}),
])
def test_the_command_prints_what_the_orm_listing_gives(database, populated, tmp_path, options, filters):
    """`tickets list` prints the ORM's rows; on SQLite also through the ORM path (a URL `listing` leaves alone)."""
    from typer.testing import CliRunner

    from mailbridge.cli import _register, app
    from mailbridge.cli.jsonl import json_line

    _register()
    with database.session() as session:
        if "now" in filters:
            rows = repo_clock.overdue(session=session, **filters)
        else:
            rows = repo.list_tickets(session=session, **filters)
    assert rows
    expected = (json_line([present.ticket_json(t) for t in rows]) if "--json" in options
                else present.tickets_table(rows)) + "\n"
    urls = [database.url]
    if database.dialect == "sqlite":
        urls.append(f"{database.url}?timeout=20")  # a query string: `listing` answers None, the ORM path lists
        assert listing.list_tickets(urls[-1]) is None
    for url in urls:
        env = {"MAILBRIDGE_TEST_DATABASE_URL": url, "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}
        result = CliRunner(env=env).invoke(app, ["tickets", "list", *options, "--config", str(CONFIG)])
        assert result.exit_code == 0, result.output
        assert result.stdout == expected, url
