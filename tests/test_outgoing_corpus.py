"""Bounces and auto-replies, from other projects' corpora and our fixtures, never cause mail from us.

Each file goes through the whole pipeline into a catch-all queue that has an agent, so that an
acknowledgement or an agent notice would be queued if loop protection let anything through. The
share of files that queue nothing is printed per set; the floor is 100%.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import func, select

from db_support import without_fsync
from mailbridge import pipeline
from mailbridge.config import load_config
from mailbridge.errors import ParseError
from mailbridge.parse import parse_message
from mailbridge.store.db import open_database
from mailbridge.store.models import Outbox

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
MAIL_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mail"
NOW = datetime(2026, 2, 12, 9, 0, tzinfo=UTC)


def corpus_or_skip() -> Path:
    if not (CORPUS / "sisimai" / "EXPECTED.json").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the shared corpus is missing in CI: {CORPUS}")
        pytest.skip(f"the shared corpus is not present at {CORPUS} (a plain checkout has none)")
    return CORPUS


@pytest.fixture
def mailbridge(tmp_path):
    """A catch-all queue with an agent, on a SQLite file without fsync (outcomes, not durability)."""
    path = tmp_path / "catch-all.toml"
    path.write_text(
        f'[mailbridge]\nstate_dir = "{tmp_path / "state"}"\nsecret = "corpus-outgoing-secret-0123456789"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n'
        '[[queues]]\nname = "support"\naddress = "support@example.com"\ncode_prefix = "SUP"\n'
        'catch_all = true\nagents = ["agent@example.com"]\n',
        encoding="utf-8",
    )
    config = load_config(path, env={})
    db = open_database(config.database_url)
    without_fsync(db)
    yield config, db
    db.dispose()


def queued_by(files: list[Path], config, db) -> list[Path]:
    """The files after which the outbox grew (each file is ingested as the null sender would send it)."""
    guilty = []
    for path in files:
        before = _count(db)
        pipeline.ingest(path.read_bytes(), db=db, config=config, now=NOW, source=f"file:{path.name}",
                        received_at=NOW)
        if _count(db) != before:
            guilty.append(path)
    return guilty


def _count(db) -> int:
    # Mail from a no-reply address opens a ticket (DESIGN.md's table), and its agents get the
    # usual notice: mail to our own agents is not an answer to the sender, so it is not counted.
    with db.session() as session:
        statement = select(func.count()).select_from(Outbox).where(
            Outbox.kind.not_in(("agent_new", "agent_reply")))
        return session.exec(statement).one()


def _report(name: str, files: list[Path], guilty: list[Path]) -> float:
    rate = 1 - len(guilty) / len(files)
    print(f"{name}: {len(files)} files, no mail queued for {rate:.1%}")
    for path in guilty:
        print(f"  queued mail after {path}")
    return rate


@pytest.mark.corpus
@pytest.mark.parametrize("kind", ["expected", "auto_replies"])
def test_sisimai_bounces_and_auto_replies_never_get_an_answer(mailbridge, kind):
    root = corpus_or_skip() / "sisimai"
    names = json.loads((root / "EXPECTED.json").read_text(encoding="utf-8"))[kind]
    files = [root / name for name in names if (root / name).is_file()]
    assert files, f"no sisimai files for {kind}"
    guilty = queued_by(files, *mailbridge)
    assert _report(f"sisimai {kind}", files, guilty) == 1.0


def test_our_automatic_mail_fixtures_never_get_an_answer(mailbridge):
    files = sorted(p for p in MAIL_FIXTURES.glob("*.eml")
                   if p.name.startswith(("auto_", "bounce_")) and not p.name.startswith("auto_negative_"))
    guilty = queued_by(files, *mailbridge)
    assert _report("fixtures auto_*/bounce_*", files, guilty) == 1.0


def test_human_mail_that_merely_looks_automatic_is_acknowledged(mailbridge):
    """The other side of the coin: the negative fixtures are people, and people get an answer."""
    files = sorted(MAIL_FIXTURES.glob("auto_negative_*.eml"))
    guilty = queued_by(files, *mailbridge)
    assert guilty == files


OTHER_SETS = {
    "stalwart-mail-parser": ("stalwart-mail-parser/resources/eml", "**/*.eml"),
    "php-mime-mail-parser": ("php-mime-mail-parser/tests/mails", "*"),
    "cpython-test_email": ("cpython-test_email/Lib/test/test_email/data", "msg_*.txt"),
    "james-mime4j": ("james-mime4j", "**/*.msg"),
}


@pytest.mark.corpus
def test_automatic_mail_in_the_other_corpus_sets_never_gets_an_answer(mailbridge):
    """Whatever parsing calls automatic in the MIME sets (a Polish Outlook auto-reply, DSNs…)."""
    root = corpus_or_skip()
    files = []
    for folder, pattern in OTHER_SETS.values():
        for path in sorted(p for p in (root / folder).glob(pattern) if p.is_file()):
            if _automatic(path.read_bytes()):
                files.append(path)
    assert files, "no automatic mail found in the MIME sets"
    guilty = queued_by(files, *mailbridge)
    assert _report("automatic mail in the MIME sets", files, guilty) == 1.0


def _automatic(raw: bytes) -> bool:
    try:
        return parse_message(raw).auto is not None
    except ParseError:
        return False
