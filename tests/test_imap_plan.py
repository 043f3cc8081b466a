"""The IMAP poller's pure decisions: search criteria per backlog rule, batches, backoff, settled UIDs."""

from __future__ import annotations

from datetime import date

import pytest

from mailbridge.sources.imap import settled_uid
from mailbridge.sources.imap_plan import (
    UID_MAX,
    Cursor,
    backoff_seconds,
    batches,
    new_uids,
    search_criteria,
)

STARTED = date(2026, 11, 20)
DAY_BEFORE = date(2026, 11, 19)


def criteria(last_uid: int, backlog_uid: int, backlog: str, *, rescanned: bool = False,
             keyword: str | None = None) -> list | None:
    cursor = Cursor(last_uid, backlog_uid, STARTED, rescanned)
    return search_criteria(cursor, backlog=backlog, flag_keyword=keyword)


@pytest.mark.parametrize(("last_uid", "backlog_uid", "backlog", "expected"), [
    # First look at a folder holding UIDs 1-40.
    (0, 40, "all", ["UID", f"1:{UID_MAX}"]),
    (0, 40, "new", ["UID", f"41:{UID_MAX}"]),
    (0, 40, "unseen", ["UID", f"1:{UID_MAX}", "OR", "UID", f"41:{UID_MAX}", ["UNSEEN"]]),
    (0, 40, "since:2026-01-15",
     ["UID", f"1:{UID_MAX}", "OR", "UID", f"41:{UID_MAX}", ["SINCE", date(2026, 1, 15)]]),
    # Half-way through the backlog: the rule still filters what is left of it.
    (25, 40, "unseen", ["UID", f"26:{UID_MAX}", "OR", "UID", f"41:{UID_MAX}", ["UNSEEN"]]),
    # Past the backlog, every rule takes everything new.
    (40, 40, "unseen", ["UID", f"41:{UID_MAX}"]),
    (57, 40, "since:2026-01-15", ["UID", f"58:{UID_MAX}"]),
    (57, 40, "new", ["UID", f"58:{UID_MAX}"]),
    # An empty folder at the first look: no backlog at all.
    (0, 0, "unseen", ["UID", f"1:{UID_MAX}"]),
])
def test_criteria_take_new_mail_and_filter_the_backlog_by_the_rule(last_uid, backlog_uid, backlog, expected):
    assert criteria(last_uid, backlog_uid, backlog) == expected


def test_ranges_never_use_star_which_would_match_the_highest_uid_below_them():
    for backlog in ("all", "new", "unseen", "since:2026-01-01"):
        assert not any("*" in str(part) for part in criteria(40, 40, backlog))


def test_flag_mode_excludes_messages_carrying_our_keyword():
    assert criteria(0, 0, "all", keyword="MailbridgeProcessed") == [
        "NOT", "KEYWORD", "MailbridgeProcessed", "UID", f"1:{UID_MAX}"]


@pytest.mark.parametrize(("backlog", "old"), [
    ("all", None),
    ("new", ["SINCE", DAY_BEFORE]),
    ("unseen", ["OR", ["UNSEEN"], ["SINCE", DAY_BEFORE]]),
    ("since:2026-01-15", ["OR", ["SINCE", date(2026, 1, 15)], ["SINCE", DAY_BEFORE]]),
])
def test_after_a_uidvalidity_change_everything_since_we_started_watching_is_taken_again(backlog, old):
    found = criteria(0, 30, backlog, rescanned=True)
    expected = ["UID", f"1:{UID_MAX}"] + ([] if old is None else ["OR", "UID", f"31:{UID_MAX}", old])
    assert found == expected


def test_no_criteria_once_the_last_possible_uid_is_taken():
    assert criteria(UID_MAX, 10, "all") is None


def test_a_backlog_reaching_the_last_possible_uid_is_filtered_without_a_new_range():
    assert criteria(0, UID_MAX, "unseen") == ["UID", f"1:{UID_MAX}", ["UNSEEN"]]


def test_new_uids_drops_those_already_taken_and_sorts():
    # Servers may answer SEARCH in any order, and "n:*" style answers can include an old UID.
    assert new_uids([9, 3, 12, 7, 12], last_uid=7) == [9, 12]


def test_batches_respect_the_count_and_the_byte_limit():
    sizes = {1: 10, 2: 10, 3: 10, 4: 10, 5: 10}
    assert list(batches([1, 2, 3, 4, 5], sizes, max_count=2)) == [[1, 2], [3, 4], [5]]
    assert list(batches([1, 2, 3, 4, 5], sizes, max_count=100, max_bytes=25)) == [[1, 2], [3, 4], [5]]
    assert list(batches([1, 2, 3, 4, 5], sizes, max_count=2, first_count=1)) == [[1], [2, 3], [4, 5]]
    assert list(batches([1, 2, 3, 4, 5], sizes, max_count=2, first_count=3)) == [[1, 2], [3, 4], [5]]


def test_a_message_bigger_than_the_byte_limit_goes_alone():
    sizes = {1: 5, 2: 500, 3: 5}
    assert list(batches([1, 2, 3], sizes, max_count=10, max_bytes=100)) == [[1], [2], [3]]


@pytest.mark.parametrize(("attempt", "jitter", "expected"), [
    (1, 0.0, 0.5), (1, 0.999999, 1.0), (2, 0.0, 1.0), (4, 0.0, 4.0), (9, 0.0, 128.0),
    (10, 0.0, 150.0), (30, 0.999999, 300.0),
])
def test_backoff_doubles_up_to_the_cap_and_jitters_between_half_and_all(attempt, jitter, expected):
    assert backoff_seconds(attempt, jitter=jitter) == pytest.approx(expected, rel=1e-5)


def test_backoff_floor_holds_a_wrong_password_back():
    assert backoff_seconds(1, jitter=0.0, floor=300.0) == 300.0
    assert backoff_seconds(20, jitter=0.5, cap=3600.0, floor=300.0) == pytest.approx(2700.0)


@pytest.mark.parametrize(("batch", "done", "expected"), [
    ([4, 5, 6], {4, 5, 6}, 6),
    ([4, 5, 6], {4, 6}, 4),
    ([4, 5, 6], {5, 6}, 0),
    ([4, 5, 6], set(), 0),
])
def test_the_last_uid_recorded_never_passes_a_message_not_done(batch, done, expected):
    assert settled_uid(batch, done) == expected
