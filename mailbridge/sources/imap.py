"""The IMAP poller: one thread per account takes mail from its folder into durable intake, then marks it.

Order of work for each batch, which is what makes a crash at any point safe:

    SEARCH (what is not yet marked) → FETCH by UID → `durable.accept_many` commits the batch
    → mark them in the mailbox (MOVE, or COPY + \\Deleted + EXPUNGE; or \\Seen + keyword)
    → record the last UID in `imap_mailbox`.

The last UID of a batch is recorded in the transaction that commits the next batch's messages
(the batch before it is marked by then), or on its own after the last batch of a pass: one
synced commit and one turn at the write lock per batch instead of two. It only ever claims
messages already marked, so a crash never leaves one unmarked below it.

A crash after the commit and before the mark fetches the message again at the next pass;
intake recognises the same bytes (and the pipeline the same Message-ID), so it is stored once
and then marked. A message the pipeline cannot process is quarantined there with its raw
bytes, so it is marked here like any other and never fetched and failed again forever.

Between passes the thread waits in IDLE (renewed before servers drop it) or sleeps
`poll_interval`; a pass also runs every `poll_interval` under IDLE, as a safety net. A
connection problem is logged once when it starts and once when it ends, retried with capped
exponential backoff and jitter, and never touches the rest of the daemon.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Sequence

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy.exc import SQLAlchemyError

from mailbridge.intake import durable
from mailbridge.oauth import user_tokens
from mailbridge.config import Config
from mailbridge.config.imap import ImapAccount
from mailbridge.errors import StoreError
from mailbridge.sources import imap_client
from mailbridge.sources.imap_client import FolderStatus
from mailbridge.sources.imap_problem import ImapProblem
from mailbridge.sources.imap_plan import Cursor, backoff_seconds, batches, new_uids, search_criteria
from mailbridge.store import imap_state
from mailbridge.store.db import Database
from mailbridge.store.imap_state import ImapMailbox
from mailbridge.store.types import utcnow
from mailbridge.store.db import SessionBoundDatabase

log = logging.getLogger(__name__)

# Failures with a clear one-line description; anything else is logged with its traceback.
EXPECTED_ERRORS = (ImapProblem, OSError, IMAPClientError, SQLAlchemyError, StoreError)
# How often a thread in IDLE looks at its stop flag; also the longest a stop waits for it.
IDLE_CHECK_SECONDS = 0.5
# A wrong password does not fix itself in seconds: retry it at this pace at the fastest.
LOGIN_RETRY_SECONDS = 300.0
BACKOFF_CAP_SECONDS = 300.0
# Passes in which FETCH does not return a message SEARCH found before it is given up.
UNFETCHABLE_TRIES = 3
# IDLE wake-ups with nothing to read this many times in a row mean the server hung up.
EMPTY_WAKEUPS_LIMIT = 3
# The first batch of a pass is at most this many messages (the processing worker's group): the
# worker, idle until then, starts on them while the next batch is fetched, instead of waiting
# for a whole batch to be fetched and committed.
FIRST_BATCH = 25


class Poller:
    """Takes one account's mail into intake; `run()` until `stop()`, or `drain()` once."""

    def __init__(self, account: ImapAccount, *, db: Database, config: Config,
                 on_stored: Callable[[int], None] = lambda raw_id: None,
                 draw: Callable[[], float] = random.random) -> None:
        self.account = account
        self.db = db
        self.config = config
        self.on_stored = on_stored
        self.draw = draw
        self.stopping = threading.Event()
        self.login_retry_seconds = LOGIN_RETRY_SECONDS
        self.backoff_cap_seconds = BACKOFF_CAP_SECONDS
        self.taken = 0
        self._problem: str | None = None
        self._failures = 0
        self._unfetched: dict[int, int] = {}
        self._given_up: set[int] = set()
        self._watching_logged = False
        self._thread: threading.Thread | None = None
        # For `mailbridge status` and the metrics: starting, watching (logged in, folder open) or failing.
        self.state = "starting"
        self.tokens = user_tokens(config, account.oauth) if account.auth == "oauth2-user" else None

    # --- Lifecycle -----------------------------------------------------------------------------

    def start(self) -> Poller:
        self._thread = threading.Thread(target=self.run, name=f"imap-{self.account.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to finish the message in hand, mark what it stored, and log out."""
        self.stopping.set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def run(self) -> None:
        """Poll until stopped; every failure is logged (once per change) and retried later."""
        while not self.stopping.is_set():
            try:
                self._session()
            except Exception as exc:  # noqa: BLE001 - whatever breaks, this thread must go on
                self.state = "failing"
                self._failures += 1
                delay = self._retry_delay(exc, self._failures)
                self._report(exc, delay)
                self.stopping.wait(delay)

    def drain(self) -> int:
        """Connect, take every message waiting, log out; returns how many were taken (tests, bench)."""
        client = imap_client.connect(self.account, self.tokens)
        try:
            status = imap_client.open_folder(client, self.account)
            return self._take_all(client, self._cursor_row(status))
        finally:
            imap_client.logout(client)

    # --- One connection ------------------------------------------------------------------------

    def _session(self) -> None:
        client = imap_client.connect(self.account, self.tokens)
        try:
            status = imap_client.open_folder(client, self.account)
            row = self._cursor_row(status)
            self._connected(status)
            self.state = "watching"
            while not self.stopping.is_set():
                self._take_all(client, row)
                row = imap_state.get_mailbox(self.account.name, self.account.folder, db=self.db) or row
                # A pass went through: the next failure starts the backoff afresh.
                self._failures = 0
                if self._problem is not None:
                    self._recovered()
                self._wait_for_mail(client)
        finally:
            imap_client.logout(client)

    def _cursor_row(self, status: FolderStatus) -> ImapMailbox:
        """The mailbox's state, created at the first look and reset by a UIDVALIDITY change."""
        name, folder = self.account.name, self.account.folder
        row = imap_state.get_mailbox(name, folder, db=self.db)
        backlog_uid = status.uidnext - 1
        if row is None:
            log.info("IMAP %s: first look at %s (%d messages; backlog rule %r)",
                     name, folder, status.exists, self.account.backlog)
            return imap_state.start_mailbox(name, folder, uidvalidity=status.uidvalidity,
                                            backlog_uid=backlog_uid, now=utcnow(), db=self.db)
        if row.uidvalidity != status.uidvalidity:
            log.warning("IMAP %s: UIDVALIDITY of %s changed (%d → %d): the folder was recreated or "
                        "moved; rescanning it, mail already stored is recognised and only marked",
                        name, folder, row.uidvalidity, status.uidvalidity)
            return imap_state.rescan_mailbox(name, folder, uidvalidity=status.uidvalidity,
                                             backlog_uid=backlog_uid, now=utcnow(), db=self.db)
        return row

    # --- Taking mail ---------------------------------------------------------------------------

    def _take_all(self, client: IMAPClient, row: ImapMailbox) -> int:
        """Search and take until a search finds nothing new; returns how many were taken."""
        taken = 0
        # The UID up to which every message is marked, and the part of it already recorded.
        last_uid = recorded = row.last_uid
        while not self.stopping.is_set():
            cursor = Cursor(last_uid, row.backlog_uid, row.first_seen_at.date(), row.rescanned_at is not None)
            uids = self._search(client, cursor)
            sizes = imap_client.sizes(client, uids)
            progress = 0
            found = [uid for uid in uids if uid in sizes]
            for batch in batches(found, sizes, max_count=self.account.batch_size, first_count=FIRST_BATCH):
                stored, settled = self._take_batch(client, batch, row.uidvalidity,
                                                   marked=last_uid if last_uid > recorded else 0)
                recorded = max(recorded, last_uid)
                progress += len(stored)
                last_uid = max(last_uid, settled)
                if len(stored) < len(batch):
                    break
            taken += progress
            # Nothing taken: nothing new, or only messages that vanished or would not come.
            if not progress:
                break
        if last_uid > recorded:
            self._record(last_uid, row.uidvalidity, self.db)
        self.taken += taken
        return taken

    def _search(self, client: IMAPClient, cursor: Cursor) -> list[int]:
        keyword = self.account.keyword if self.account.after_processing == "flag" else None
        criteria = search_criteria(cursor, backlog=self.account.backlog, flag_keyword=keyword)
        return new_uids(client.search(criteria), cursor.last_uid) if criteria else []

    def _take_batch(self, client: IMAPClient, batch: Sequence[int], uidvalidity: int,
                    marked: int = 0) -> tuple[list[int], int]:
        """Store one batch (recording `marked`, the last UID of the batches before, if not 0), then mark it.

        Returns (UIDs stored, highest UID settled or 0): the caller records the latter later.
        """
        messages = imap_client.fetch(client, batch)
        stored = self._accept_all(messages, marked, uidvalidity)
        # Only now, with every one of them committed, may the mailbox copies be marked.
        imap_client.mark(client, self.account, stored)
        self._note_unfetched(set(batch) - {message.uid for message in messages})
        return stored, settled_uid(batch, set(stored) | self._given_up)

    def _record(self, uid: int, uidvalidity: int, db: Database | SessionBoundDatabase) -> None:
        """Record that every message up to `uid` is stored and marked."""
        imap_state.advance(self.account.name, self.account.folder, uidvalidity=uidvalidity,
                           uid=uid, now=utcnow(), db=db)

    def _note_unfetched(self, uids: set[int]) -> None:
        # A UID that SEARCH finds but FETCH does not return was expunged meanwhile (it will not
        # be found again) or is one the server cannot read; the latter is given up after a few
        # passes, left in the mailbox and logged, instead of stalling the passes behind it.
        for uid in sorted(uids - self._given_up):
            self._unfetched[uid] = self._unfetched.get(uid, 0) + 1
            if self._unfetched[uid] >= UNFETCHABLE_TRIES:
                self._given_up.add(uid)
                log.error("IMAP %s: UID %d in %s could not be fetched %d times; it is left in the "
                          "mailbox, unmarked", self.account.name, uid, self.account.folder, UNFETCHABLE_TRIES)

    def _accept_all(self, messages: Sequence[imap_client.Fetched], marked: int, uidvalidity: int) -> list[int]:
        """Commit the messages, and `marked` as the last UID (unless 0), in one transaction; returns their UIDs.

        One commit per batch rather than per message: on SQLite each commit is a sync to disk
        and a turn at the write lock the worker also needs, held for a few statements
        (`durable.accept_many`) rather than one or two per message. A stop lets the batch in
        hand be committed (and then marked) whole.
        """
        with self.db.session() as session:
            batch_db = SessionBoundDatabase(self.db, session, savepoints=False)
            if marked:
                self._record(marked, uidvalidity, batch_db)
            rows = durable.accept_many([(message.raw, message.internal_date or utcnow()) for message in messages],
                                       db=batch_db, source=f"imap:{self.account.name}/{self.account.folder}",
                                       envelope_rcpts=self._envelope_rcpts())
        for message, (row_id, created) in zip(messages, rows):
            self._log_accepted(message, row_id, created)
        return [message.uid for message in messages]

    def _log_accepted(self, message: imap_client.Fetched, raw_id: int, created: bool) -> None:
        if created:
            log.info("received raw #%d from IMAP %s UID %d, %d bytes", raw_id, self.account.name,
                     message.uid, len(message.raw))
            self.on_stored(raw_id)
        else:
            log.info("IMAP %s UID %d is already stored as raw #%d; marking it", self.account.name,
                     message.uid, raw_id)

    def _envelope_rcpts(self) -> tuple[str, ...]:
        # A mailbox that feeds one queue delivers as an MTA would for RCPT TO:<queue address>;
        # routing then treats it like any envelope recipient (To/Cc queue addresses come first).
        queue = self.config.queue(self.account.queue) if self.account.queue else None
        return (queue.address,) if queue else ()

    # --- Waiting -------------------------------------------------------------------------------

    def _wait_for_mail(self, client: IMAPClient) -> None:
        """Until new mail may be there: an IDLE notice, the poll interval, or a stop."""
        if not (self.account.idle and client.has_capability("IDLE")):
            self.stopping.wait(self.account.poll_interval)
            return
        # The safety-net poll also renews the IDLE, so whichever comes first ends this one.
        deadline = time.monotonic() + min(self.account.poll_interval, self.account.idle_renew)
        client.idle()
        try:
            if not (_arrived_before_idle(client) or _unread_after_idling(client)):
                self._idle_until(client, deadline)
        finally:
            client.idle_done()

    def _idle_until(self, client: IMAPClient, deadline: float) -> None:
        empty_wakeups = 0
        while not self.stopping.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            responses = client.idle_check(timeout=IDLE_CHECK_SECONDS)
            if any(_new_mail(response) for response in responses):
                return
            quick = not responses and time.monotonic() - started < IDLE_CHECK_SECONDS / 2
            empty_wakeups = empty_wakeups + 1 if quick else 0
            if empty_wakeups >= EMPTY_WAKEUPS_LIMIT:
                raise ConnectionResetError("the server closed the connection during IDLE")

    # --- Problems ------------------------------------------------------------------------------

    @property
    def problem(self) -> str | None:
        """The last failure, as logged, until a pass goes through again."""
        return self._problem

    def _retry_delay(self, exc: Exception, attempt: int) -> float:
        floor = self.login_retry_seconds if getattr(exc, "kind", None) == "login" else 0.0
        return backoff_seconds(attempt, jitter=self.draw(), cap=self.backoff_cap_seconds, floor=floor)

    def _report(self, exc: Exception, delay: float) -> None:
        line = self._describe(exc)
        if line == self._problem:
            log.debug("%s (still); retrying in %.0f s", line, delay)
            return
        self._problem = line
        # Anything but a named connection, server or database failure is a bug: show where.
        log.error("%s; retrying in %.0f s", line, delay, exc_info=not isinstance(exc, EXPECTED_ERRORS))

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, SQLAlchemyError | StoreError):
            text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            return (f"IMAP {self.account.name}: cannot store mail, the database is unavailable: "
                    f"{text[0][:300] if text else type(exc).__name__}; the mail stays in the mailbox")
        return imap_client.describe(exc, self.account)

    def _connected(self, status: FolderStatus) -> None:
        if self._watching_logged:
            return
        self._watching_logged = True
        how = "IDLE" if self.account.idle else f"polling every {self.account.poll_interval} s"
        log.info("IMAP %s: watching %s on %s:%d (%d messages, %s)", self.account.name, self.account.folder,
                 self.account.host, self.account.server_port, status.exists, how)

    def _recovered(self) -> None:
        log.info("IMAP %s: working again (was: %s)", self.account.name, self._problem)
        self._problem = None


def settled_uid(batch: Sequence[int], done: set[int]) -> int:
    """The highest UID of `batch` (ascending) up to which every message is done; 0 if the first is not."""
    settled = 0
    for uid in batch:
        if uid not in done:
            break
        settled = uid
    return settled


def _arrived_before_idle(client: IMAPClient) -> bool:
    """Whether the server announced new mail between our last SEARCH and the IDLE starting.

    Such an EXISTS comes before the server's "+ idling" and imaplib files it with the other
    untagged responses, where `idle_check` never looks: without this, that mail would wait for
    the next safety-net poll.
    """
    pending = getattr(getattr(client, "_imap", None), "untagged_responses", None)
    if not isinstance(pending, dict):
        return False
    return pending.pop("EXISTS", None) is not None


def _unread_after_idling(client: IMAPClient) -> bool:
    """Whether the server said more after "+ idling" that imaplib has already read into its buffer.

    Dovecot answers IDLE with "+ idling" and then at once with the EXISTS of mail that came
    since the last command. A thread that reads late (a loaded machine) gets both lines in one
    read: `idle()` takes the first, the second waits in imaplib's buffer, and `idle_check`,
    which asks the socket whether there is anything to read, does not see it until the next
    safety-net poll. Whatever is waiting there is worth a pass.
    """
    reader = getattr(getattr(client, "_imap", None), "file", None)
    if not hasattr(reader, "peek"):
        return False
    sock = client.socket()
    timeout = sock.gettimeout()
    # Non-blocking, so that with nothing buffered the peek returns at once instead of waiting.
    sock.settimeout(0.0)
    try:
        return bool(reader.peek(1))
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    finally:
        sock.settimeout(timeout)


def _new_mail(response: object) -> bool:
    """Whether an untagged IDLE response says the folder changed in a way worth a search."""
    return isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"BYE")


def start_pollers(config: Config, db: Database, on_stored: Callable[[int], None]) -> list[Poller]:
    """One running poller thread per configured account."""
    return [Poller(account, db=db, config=config, on_stored=on_stored).start() for account in config.imap]


def stop_pollers(pollers: Sequence[Poller], timeout: float = 30.0) -> None:
    """Stop every poller and wait for them; a thread still busy after `timeout` is left behind."""
    for poller in pollers:
        poller.stop()
    deadline = time.monotonic() + timeout
    for poller in pollers:
        if not poller.join(max(0.0, deadline - time.monotonic())):
            log.warning("IMAP %s: still busy at stop; what it stored is fetched and marked next time",
                        poller.account.name)
