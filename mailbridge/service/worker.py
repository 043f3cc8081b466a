"""The processing worker: run each pending raw message through the pipeline, exactly once.

Intake leaves every accepted message `pending`; the pipeline stores its result and marks the raw
row done (or quarantined) in one transaction, so a crash at any point leaves the row either
finished or still pending, and pending rows are simply processed again at the next start.

On PostgreSQL several worker processes (of one instance or several) share the work: each claims
one row with `FOR UPDATE SKIP LOCKED` and runs the pipeline inside that same transaction (as
savepoints), so the row stays locked until its result is committed and no other worker can take
it meanwhile. A message that answers another (In-Reply-To, References) waits, once parsed, for
the older rows still locked by other workers to be committed before it looks for its thread
(`_after_older_rows`): a reply is not stored before the message it answers when both were
waiting. SQLite is one machine and one daemon, and one writer at a time: one worker stores, in
id order, up to GROUP messages per transaction: one synced commit for the group instead of one
per message. The group is stored first without savepoints; when a message fails a stage the
whole transaction is rolled back and the group stored again with a savepoint per message, so
that the bad one is quarantined without undoing the others (what is stored is the same either
way; the savepoints, a fifth of the statements, are paid only then). The commit that stores a
group also counts the next group's attempts. With `parsers` (`mailbridge.service.parsers`) the
parse stage of the next messages runs meanwhile in other processes; without them, the next
group's messages are parsed while the group's commit waits for the disk. The SMTP listener
does not wait for this write lock (it writes to its spool); IMAP intake and the outbox worker
wait at most one group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from mailbridge import pipeline
from mailbridge.intake import durable
from mailbridge.config import Config
from mailbridge.errors import StageFailed, error_line
from mailbridge.logs import mask_tokens
from mailbridge.outcome import Outcome
from mailbridge.outgoing import outbox
from mailbridge.intake.spool import Spool
from mailbridge.parse.model import ParsedMessage
from mailbridge.parse.stage import ParseFailure, parse_stage
from mailbridge.service.parsers import ParserPool
from mailbridge.store.db import Database, Meanwhile, SessionBoundDatabase
from mailbridge.store.models import RawMessage
from mailbridge.store.types import utcnow

log = logging.getLogger(__name__)

# A message whose processing was started this often without finishing (the pipeline raised: a
# bug, since bad messages are quarantined by the pipeline; or the worker process died on it:
# killed for its memory) is quarantined so that it cannot stall the queue forever. The count is
# in the row, committed before each attempt (on SQLite with the previous group's result, or on
# its own for a claim's first group), so a crash that takes the worker's memory with it is
# counted too.
MAX_ATTEMPTS = 3
# Rows loaded from the spool, and claimed, at a time (and at most `durable.BATCH_BYTES` of them).
# Each claim costs commits nothing overlaps (the spool load's, its first group's attempts') and
# its first group is parsed before it is stored, not while the group before commits: 400 rather
# than 100 gave 2.5 % more processed msg/s in serve (issue 17, 6 interleaved pairs, 5 better).
# With parser processes each claim starts with a wait for its first group's parse: 400 rather
# than 100 cut those waits from 0.15 to 0.04 ms per message. The rows' bytes are held for the
# claim (at most durable.BATCH_BYTES): bench row 5's largest process was 105-129 MB after this
# change, 94-106 MB in the full runs before it.
BATCH = 400
# Each group costs a synced commit and a wait for the write turn (a claim's first group one more,
# for its attempts): 25 rather than 10 per group gave 4-5 % more processed msg/s in serve
# (issue 17, 2 cores, when every group paid two).
GROUP = 25
# Messages parsed ahead of the one being stored: the next group while this one is stored.
PARSED_AHEAD = 2 * GROUP

# On PostgreSQL: the older rows another worker still holds, waited for (their lock is FOR
# UPDATE, which a KEY SHARE request waits behind; a row committed meanwhile is no longer
# pending and is left out). Only unfinished rows are read, through the state index.
_OLDER_ROWS = (select(RawMessage.id).where(RawMessage.state == "pending", col(RawMessage.id) < bindparam("raw_id"))
               .with_for_update(read=True, key_share=True))

# A claim: groups of rows, each processed inside the transaction its opener gives, with a
# savepoint per message or none (the opener is told which; PostgreSQL's is always asked for
# them), and what to do while it commits (`Database.session`'s `meanwhile`; None: nothing).
Opener = Callable[[bool, Meanwhile | None], AbstractContextManager[Any]]
Group = tuple[Opener, list[RawMessage]]
# A processed message: raw id, source, outcome, seconds.
Done = tuple[int, str, Outcome, float]
Parsed = ParsedMessage | ParseFailure


class Worker:
    """Drains pending raw messages; `process` is the pipeline's `process` (replaceable in tests)."""

    def __init__(self, *, db: Database, config: Config,
                 process: Callable[..., Outcome] = pipeline.process, spool: Spool | None = None,
                 parsers: ParserPool | None = None, on_progress: Callable[[], None] = lambda: None,
                 on_loaded: Callable[[], None] = lambda: None,
                 on_outcome: Callable[[str, Outcome, float], None] = lambda source, outcome, seconds: None) -> None:
        self.db = db
        self.config = config
        self.process = process
        # Called after each committed group: what it queued can be sent while the rest is processed.
        self.on_progress = on_progress
        # Called per committed message with its source kind (smtp, imap, file), outcome and
        # processing seconds: the metrics' feed.
        self.on_outcome = on_outcome
        # The listener's spool, moved into the database before each batch is claimed; then
        # `on_loaded` lets the other workers know there is mail for them too.
        self.spool = spool
        self.on_loaded = on_loaded
        # Processes that parse the claimed rows ahead (SQLite); None: each is parsed when stored.
        self.parsers = parsers
        # The raw row being processed, so a failure can be told against it.
        self._current: int | None = None
        # The rows of the next group, whose attempts were committed with the last group's result
        # and which are not started yet (SQLite).
        self._ahead: list[int] = []
        # Parse results of the next group's rows, by id, made while the last group committed
        # (SQLite without parser processes); and the claimed rows started before and never
        # finished, which are never parsed early (see `_parse_early`).
        self._early: dict[int, Parsed] = {}
        self._suspects: set[int] = set()

    def drain(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Process pending messages until none is left or `should_stop()`; returns how many."""
        claim = self._claim_locked if self.db.dialect == "postgresql" else self._claim_batch
        count = 0
        while not should_stop():
            self._current = None
            if self.spool is not None:
                if durable.load_spool(self.spool, self.db, BATCH):
                    self.on_loaded()
            try:
                with claim() as groups, self._parsed_ahead(groups) as parsed:
                    if not groups:
                        return count
                    done, stopped = self._process_groups(groups, should_stop, parsed)
                    count += done
                    if stopped:
                        return count
            except OperationalError:
                # The database is down or locked: not the message's fault, so the attempt is
                # given back; the daemon retries the whole drain later.
                if self._current is not None:
                    durable.give_back_attempt(self.db, self._current)
                raise
            except Exception as exc:
                # Told (and perhaps quarantined) only now that the claim, and on PostgreSQL
                # its row lock, has been released.
                if self._current is not None:
                    self._failed(self._current, exc)
                raise
        return count

    def _process_groups(self, groups: list[Group], should_stop: Callable[[], bool],
                        parsed: Iterator[Parsed] | None) -> tuple[int, bool]:
        """Process a claim's groups in order; returns how many messages, and whether a stop came."""
        count = 0
        try:
            for index, (transaction, rows) in enumerate(groups):
                following = groups[index + 1][1] if index + 1 < len(groups) else []
                count += self._process_group(transaction, rows, should_stop, parsed, following)
                if should_stop():
                    return count, True
            return count, False
        finally:
            self._early.clear()
            if self._ahead:
                # Counted with the last result, then a stop (or a failure) came before they
                # were started: they were not attempted.
                durable.give_back_attempts(self.db, self._ahead)
                self._ahead = []

    def _process_group(self, transaction: Opener, rows: list[RawMessage],
                       should_stop: Callable[[], bool], parsed: Iterator[Parsed] | None,
                       following: list[RawMessage]) -> int:
        """Process rows in one transaction; each outcome is logged once it is committed.

        On SQLite the rows are first stored without savepoints (`pipeline.process(savepoints=False)`):
        when one of them fails a stage, everything is rolled back and stored again the way that
        quarantines it alone, a savepoint per message, which is also all PostgreSQL does.
        """
        if not rows:
            return 0
        # Before the transaction: the write lock is not held while a parser is waited for.
        if parsed is not None:
            results: list[Parsed | None] = [next(parsed) for _ in rows]
        else:
            results = [self._early.pop(row.id, None) for row in rows]
        sqlite = self.db.dialect != "postgresql"
        meanwhile = self._parse_early(rows, following) if sqlite and parsed is None else None
        if sqlite and self._ahead != [row.id for row in rows]:
            # Not counted with the previous group's result (the first group of a claim);
            # PostgreSQL counted it when it claimed the row (`_claim_locked`).
            durable.count_attempts(self.db, [row.id for row in rows])
        self._ahead = []
        ahead = [row.id for row in following] if sqlite else []
        try:
            done = self._store_group(transaction, rows, results, should_stop, ahead, meanwhile,
                                     savepoints=not sqlite)
        except StageFailed:
            self._current = None
            done = self._store_group(transaction, rows, results, should_stop, ahead, meanwhile, savepoints=True)
        if len(done) < len(rows):
            # A stop came first: the rows not started were not attempted (a stop is no crash).
            durable.give_back_attempts(self.db, [row.id for row in rows[len(done):]])
        for raw_id, source, outcome, seconds in done:
            log.info("raw #%d %s", raw_id, describe(outcome))
            self.on_outcome(source_kind(source), outcome, seconds)
        if done:
            self.on_progress()
        return len(done)

    def _store_group(self, transaction: Opener, rows: list[RawMessage], results: list[Parsed | None],
                     should_stop: Callable[[], bool], ahead: list[int],
                     meanwhile: Meanwhile | None, *, savepoints: bool) -> list[Done]:
        """Run rows through the pipeline in one transaction, which also counts the attempts of `ahead`."""
        done: list[Done] = []
        counted: list[int] = []
        # Without savepoints the group's acknowledgements and notices wait and are inserted
        # together before its commit (a savepoint rolled back could not take them back).
        with (transaction(savepoints, meanwhile) as db,
              nullcontext() if savepoints else outbox.deferred(db.open_session)):
            for row, result in zip(rows, results):
                if should_stop():
                    break
                self._current = row.id
                started = time.perf_counter()
                if result is None and self.db.dialect == "postgresql":
                    result = parse_stage(row.content)
                    _after_older_rows(db, row.id, result)
                outcome = self.process(row, db=db, config=self.config, now=utcnow(), parsed=result,
                                       mark_done=False, savepoints=savepoints)
                done.append((row.id, row.source, outcome, time.perf_counter() - started))
            if not savepoints:
                _insert_waiting_mail(db)
            # The group's rows are marked done together, in the transaction that stores their
            # results: one statement instead of one per message (a quarantined row is left as it is).
            self._current = None
            durable.mark_all_done(db.open_session, [raw_id for raw_id, _, _, _ in done])
            if ahead and len(done) == len(rows) and not should_stop():
                # The next group's attempts are committed with this result, before it starts:
                # one synced commit per group instead of two, and still counted if it kills us.
                durable.count_attempts_in(db.open_session, ahead)
                counted = ahead
        self._ahead = counted
        return done

    def _parse_early(self, rows: list[RawMessage], following: list[RawMessage]) -> Meanwhile | None:
        """What to do while `rows` commit: parse `following` (the next group) into `_early` one by
        one, for as long as `committing()` says; None when there is nothing to parse or a suspect.

        The commit that stores `rows` also counts `following`'s attempts: a parse that kills the
        process (its memory, a crash in C code) before that commit is over costs `rows` an
        attempt instead. Once is harmless, and after it they are suspects, whose groups and
        neighbours are never parsed early: the culprit then dies in its own turn and is counted.
        """
        if not following or any(row.id in self._suspects for row in (*rows, *following)):
            return None

        def parse(committing: Callable[[], bool]) -> None:
            # In this (main) thread: the parse's time limit is a signal, which only it receives.
            for row in following:
                if not committing():
                    return
                self._early[row.id] = parse_stage(row.content)
        return parse

    @contextmanager
    def _parsed_ahead(self, groups: list[Group]) -> Iterator[Iterator[Parsed] | None]:
        """The parse results of the claimed rows in their order, from the parser processes (None without)."""
        if self.parsers is None:
            yield None
            return
        results = self.parsers.parsed((row.content for _, rows in groups for row in rows), PARSED_AHEAD)
        try:
            yield results
        finally:
            results.close()

    @contextmanager
    def _claim_batch(self) -> Iterator[list[Group]]:
        rows = durable.pending_raw(self.db, BATCH)
        attempts = durable.attempts_of(self.db, [row.id for row in rows])
        kept = []
        self._suspects = {row.id for row in rows if attempts.get(row.id, 0)}
        for row in rows:
            if attempts.get(row.id, 0) >= MAX_ATTEMPTS:
                self._quarantine_exhausted(row.id, attempts[row.id])
            else:
                kept.append(row)
        yield [(self._group_transaction, group) for group in _groups(kept, attempts)]

    @contextmanager
    def _group_transaction(self, savepoints: bool, meanwhile: Meanwhile | None) -> Iterator[SessionBoundDatabase]:
        with self.db.session(meanwhile=meanwhile) as session:
            yield SessionBoundDatabase(self.db, session, savepoints=savepoints)

    @contextmanager
    def _claim_locked(self) -> Iterator[list[Group]]:
        # One row per transaction: the lock is held while that row is processed, and the claim
        # commits together with the result. The attempt is counted beside it, in a transaction
        # of its own (a crash must not undo it) on a table the lock does not cover.
        statement = (select(RawMessage).where(RawMessage.state == "pending")
                     .order_by(col(RawMessage.id)).limit(1).with_for_update(skip_locked=True))
        with self.db.session() as session:
            row = session.exec(statement).first()
            if row is None:
                yield []
                return
            bound = SessionBoundDatabase(self.db, session)
            attempts = durable.attempts_of(self.db, [row.id]).get(row.id, 0)
            if attempts >= MAX_ATTEMPTS:
                # In the transaction holding the lock: another connection would wait for it.
                durable.quarantine_in(session, row.id, "worker", durable.exhausted_error(attempts), utcnow())
                log.error("raw #%d quarantined: %s", row.id, durable.exhausted_error(attempts))
                yield [(lambda savepoints, meanwhile: nullcontext(bound), [])]
                return
            durable.count_attempts(self.db, [row.id])
            yield [(lambda savepoints, meanwhile: nullcontext(bound), [row])]

    def _quarantine_exhausted(self, raw_id: int, attempts: int) -> None:
        error = durable.exhausted_error(attempts)
        durable.quarantine(self.db, raw_id, "worker", error)
        log.error("raw #%d quarantined: %s", raw_id, error)

    def _failed(self, raw_id: int, exc: Exception) -> None:
        attempts = durable.attempts_of(self.db, [raw_id]).get(raw_id, 0)
        error = error_line(exc)
        log.error("raw #%d: processing failed (attempt %d of %d): %s", raw_id, attempts, MAX_ATTEMPTS, error)
        if attempts >= MAX_ATTEMPTS:
            durable.quarantine(self.db, raw_id, "worker", error)
            log.error("raw #%d quarantined after %d failed attempts", raw_id, attempts)


def _after_older_rows(db: SessionBoundDatabase, raw_id: int, parsed: Parsed) -> None:
    """A reply waits for the older rows other workers hold: what it answers may be among them.

    A first message (no In-Reply-To, no References) threads onto nothing in flight and goes on
    at once; a ticket code or reply token in a reply names a ticket committed long before.
    """
    if isinstance(parsed, ParseFailure) or not (parsed.in_reply_to or parsed.references):
        return
    with db.session() as session:
        session.execute(_OLDER_ROWS, {"raw_id": raw_id}).all()


def _insert_waiting_mail(db: SessionBoundDatabase) -> None:
    """The group's acknowledgements and notices, queued by its messages: a failure is a store stage's, as it was."""
    try:
        outbox.insert_waiting(db.open_session)
    except OperationalError:
        raise
    except Exception as exc:  # noqa: BLE001 - redone with a savepoint per message, which finds the culprit
        raise StageFailed("store") from exc


def source_kind(source: str) -> str:
    """`smtp`, `imap` or `file`: a raw row's source without the account or path after the colon."""
    return source.split(":", 1)[0] or "unknown"


def _groups(rows: list[RawMessage], attempts: dict[int, int]) -> list[list[RawMessage]]:
    """Rows in id order, up to GROUP per transaction; a suspect (started before, never finished) alone.

    A message that killed the worker must not take its group's transaction down with it again:
    after one such crash every row of that group is a suspect, and each is processed alone.
    """
    groups: list[list[RawMessage]] = []
    fresh: list[RawMessage] = []
    for row in rows:
        if attempts.get(row.id, 0) > 0:
            groups.append([row])
            continue
        if not fresh or len(fresh) == GROUP:
            fresh = []
            groups.append(fresh)
        fresh.append(row)
    return groups


def describe(outcome: Outcome) -> str:
    """The log line's verdict: `<id> stored as new ticket DYN-000001 (queue dynamics, rule new)`."""
    why = f"rule {outcome.rule}" + (f": {outcome.detail}" if outcome.detail else "")
    if outcome.kind == "created":
        verdict = f"stored as new ticket {outcome.ticket_code} (queue {outcome.queue}, {why})"
    elif outcome.kind == "threaded":
        verdict = f"threaded onto {outcome.ticket_code} ({why})"
    elif outcome.kind == "quarantined":
        verdict = f"quarantined at stage {outcome.stage}: {outcome.error or why}"
    else:
        verdict = f"{outcome.kind} ({why})"
    line = f"<{outcome.message_id}> {verdict}" if outcome.message_id else verdict
    # A reply-token rule names the address the token came in: tokens are credentials.
    return mask_tokens(line)
