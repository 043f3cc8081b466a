"""The schema check's shortcut agrees with alembic: the same head, and a stamp that differs still refused."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mailbridge.errors import SchemaOutOfDate
from mailbridge.store import db as store_db
from mailbridge.store import revision


def test_the_shipped_head_is_alembics_head():
    assert revision.shipped_head() == store_db.head_revision()


def test_the_stamp_is_read_from_a_migrated_database_and_none_from_an_empty_one(empty_database_url):
    db = store_db.connect(empty_database_url)
    with db.engine.connect() as connection:
        assert revision.stamped(connection) is None
    store_db.upgrade(db)
    with db.engine.connect() as connection:
        assert revision.stamped(connection) == store_db.head_revision()
    db.dispose()


def test_a_schema_at_an_older_revision_is_refused(empty_database_url):
    db = store_db.connect(empty_database_url)
    store_db.upgrade(db, "0007_escalation")
    db.dispose()
    with pytest.raises(SchemaOutOfDate, match=r"schema is at 0007_escalation, this mailbridge needs .*db upgrade"):
        store_db.open_database(empty_database_url)


@pytest.mark.parametrize(("script", "expected"), [
    ("revision = '0002'\ndown_revision = '0001'\n", ("0002", ("0001",))),
    ("revision: str = \"0001\"\ndown_revision: Union[str, None] = None\n", ("0001", ())),
    ("revision = 'm'\ndown_revision = ('a', 'b')\n", ("m", ("a", "b"))),
    # Anything else is left to alembic.
    ("revision = 'm'\ndown_revision = (\n    'a',\n    'b',\n)\n", None),
    ("revision = 'm'\n", None),
    ("revision = make_id()\ndown_revision = None\n", None),
])
def test_a_script_is_read_only_when_written_the_plain_way(script, expected):
    assert revision._revision_and_parents(script) == expected
