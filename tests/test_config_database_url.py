"""The database URLs the config accepts without SQLAlchemy are ones SQLAlchemy accepts, as the same database.

`check_database_url` passes the two usual shapes of URL by a pattern, so that loading the config
does not import SQLAlchemy (issue 17: `tickets list` within 0.25 s); every other URL goes to
`make_url`. Whatever the pattern passes must parse there, to a supported backend and driver.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from mailbridge.config.checks import _PLAIN_URL, check_database_url


@settings(max_examples=400, deadline=None)
@given(st.from_regex(_PLAIN_URL, fullmatch=True))
def test_every_url_passed_by_the_pattern_is_one_sqlalchemy_accepts(url):
    parsed = make_url(url)
    assert (parsed.get_backend_name(), parsed.get_driver_name()) in {("sqlite", "pysqlite"), ("postgresql", "psycopg")}


@pytest.mark.parametrize("url", ["sqlite:////var/lib/mailbridge/mailbridge.sqlite3", "sqlite:///state/mb.sqlite3",
                                 "postgresql+psycopg://mailbridge:s3cret@db.example.com:5432/mailbridge"])
def test_the_usual_urls_pass_by_the_pattern(url):
    assert _PLAIN_URL.fullmatch(url) and check_database_url(url) == url


@pytest.mark.parametrize(("url", "problem"), [
    ("postgresql+psycopg://h:notaport/db", "invalid literal for int"),  # make_url's own ValueError
    ("mysql://u@h/db", "unsupported database 'mysql'"),
    ("postgresql+psycopg2://u@h/db", r"driver 'postgresql\+psycopg2' is not installed"),
    ("nonsense", "not a database URL"),
])
def test_other_urls_are_still_judged_by_sqlalchemy(url, problem):
    with pytest.raises(ValueError, match=problem):
        check_database_url(url)


def test_a_plain_postgresql_url_gets_the_psycopg_driver():
    assert check_database_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
