"""Pure decisions of the IMAP poller: what to search for, how to batch it, how long to back off.

No network, database or clock here: the poller passes in what it knows and gets data back, so
every rule is tested with tables.

What a pass takes: the messages not yet marked (still in the folder when marking moves them;
without our keyword when it flags them) whose UID is above `last_uid`. Among those, the ones
at or below `backlog_uid` were in the folder before mailbridge first looked at it, and the
account's backlog rule filters them: "all" takes them, "unseen" only those not yet read,
"since:DATE" only those that arrived on or after DATE, "new" none. After a UIDVALIDITY change
the backlog is the whole refilled folder, and everything that arrived since mailbridge started
watching is taken as well: a safe rescan, where intake and the pipeline recognise mail already
stored, so nothing is stored or opened twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

# UIDs are unsigned 32-bit numbers. Ranges end here rather than at "*": in IMAP, "n:*" always
# matches the highest UID even when it is below n, which would take a message twice or one
# the backlog rule excluded.
UID_MAX = 4_294_967_295
# A batch holds at most this many bytes of mail as well as `batch_size` messages, so a folder
# of large attachments cannot make one FETCH hold gigabytes in memory.
BATCH_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a mailbox stands: the last UID taken, the backlog boundary, and when we started."""

    last_uid: int
    backlog_uid: int
    first_seen: date
    rescanned: bool = False


def search_criteria(cursor: Cursor, *, backlog: str, flag_keyword: str | None) -> list | None:
    """imapclient SEARCH criteria for the next pass, or None when nothing can match."""
    low = cursor.last_uid + 1
    base: list = ["NOT", "KEYWORD", flag_keyword] if flag_keyword else []
    old = backlog_filter(backlog, cursor)
    if old == "none" or low > cursor.backlog_uid:
        low = max(low, cursor.backlog_uid + 1)
        old = None
    if low > UID_MAX:
        return None
    criteria = [*base, "UID", f"{low}:{UID_MAX}"]
    if old is not None and cursor.backlog_uid < UID_MAX:
        criteria += ["OR", "UID", f"{cursor.backlog_uid + 1}:{UID_MAX}", old]
    elif old is not None:
        criteria.append(old)
    return criteria


def backlog_filter(backlog: str, cursor: Cursor) -> list | str | None:
    """What backlog messages must match: a criteria group, None (all of them) or "none"."""
    if backlog == "all":
        return None
    if backlog == "unseen":
        rule: list | None = ["UNSEEN"]
    elif backlog.startswith("since:"):
        rule = ["SINCE", date.fromisoformat(backlog[6:])]
    else:
        rule = None
    if not cursor.rescanned:
        return rule if rule is not None else "none"
    # SEARCH SINCE compares dates in the server's time zone; a day earlier covers any zone.
    watched = ["SINCE", cursor.first_seen - timedelta(days=1)]
    return ["OR", rule, watched] if rule is not None else watched


def new_uids(found: Sequence[int], last_uid: int) -> list[int]:
    """The UIDs above `last_uid`, ascending, each once (servers need not sort SEARCH results)."""
    return sorted({uid for uid in found if uid > last_uid})


def batches(uids: Sequence[int], sizes: Mapping[int, int], *, max_count: int,
            max_bytes: int = BATCH_BYTES, first_count: int | None = None) -> Iterator[list[int]]:
    """Consecutive groups of UIDs within both limits; a message bigger than the byte limit goes alone.

    `first_count`: the first group holds at most this many (when fewer than `max_count`).
    """
    batch: list[int] = []
    total = 0
    limit = min(max_count, first_count or max_count)
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= limit or total + size > max_bytes):
            limit = max_count
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def backoff_seconds(attempt: int, *, jitter: float, base: float = 1.0, cap: float = 300.0,
                    floor: float = 0.0) -> float:
    """The wait before retry `attempt` (1, 2, ...): doubling from `base` up to `cap`, then jittered.

    `jitter` is a number in [0, 1) (the caller's random draw): the wait is scaled into
    [50 %, 100 %] of the doubled value, so that mailboxes failing together do not retry in step.
    `floor` holds the wait up for failures that retrying soon cannot fix (a wrong password).
    """
    doubled = min(cap, base * 2 ** max(0, attempt - 1))
    return max(floor, doubled * (0.5 + jitter / 2))
