"""IMAP end to end: the corpus moved into a Dovecot mailbox that `serve` watches, until every ticket is stored.

Measured like SMTP ingest (`ingest_e2e.MailbridgeRun.throughput`): `serve` is started, its worker
processes and sender have said they started (their imports are not a message's time), and only
then does the mail arrive: the corpus waits in another folder of the same mailbox and one MOVE
puts it into INBOX, where the poller's IDLE (or its poll) notices it. The clock runs from just
before the MOVE to the last message finished. `arriving=False` is the earlier measurement: the
corpus already in INBOX when `serve` starts, timed from its "listening" line, which also counts
the worker processes' start (about a second of imports, at their lower priority).
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import serve_proc
from bench.ingest_e2e import DRAIN_SECONDS_PER_MESSAGE

# The mailbox folder the corpus waits in until `serve` is up.
HOLD = "bench-hold"


def unavailable() -> str | None:
    """Why the IMAP measurement cannot run here, or None when it can."""
    try:
        dovecot = _dovecot_support()
    except ImportError as exc:
        return f"the Dovecot test support (tests/dovecot.py) does not import: {exc}"
    if not dovecot.DOVECOT.exists():
        return f"Dovecot is not installed ({dovecot.DOVECOT} missing; apt-get install dovecot-imapd)"
    return None


def _dovecot_support():
    """tests/dovecot.py, imported the way pytest imports it: with tests/ on the path (it imports `tls`)."""
    tests = str(serve_proc.ROOT / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    return importlib.import_module("dovecot")


def measure(corpus: Sequence[bytes], *, arriving: bool = True) -> dict:
    """Messages per second from the mail being put in INBOX (see the module docstring) to the last ticket stored."""
    dovecot = _dovecot_support()
    Dovecot, MailboxClient, imap_table = dovecot.Dovecot, dovecot.MailboxClient, dovecot.imap_table
    server = Dovecot().start()
    try:
        user = server.add_user()
        mailbox = MailboxClient(server, user)
        if arriving:
            mailbox.client.create_folder(HOLD)
        mailbox.append(list(corpus), folder=HOLD if arriving else "INBOX")
        try:
            with tempfile.TemporaryDirectory(prefix="mb-bench-imap-") as directory:
                root = Path(directory)
                serve_proc.write_config(root, imap_table(server, user, poll_interval=1, batch_size=100))
                serve = serve_proc.ServeProcess(root).start()
                try:
                    started, cpu_before = serve.ready_at, serve_proc.cpu_times(serve.pid)
                    if arriving:
                        serve.wait_workers()
                        started, cpu_before = time.perf_counter(), serve_proc.cpu_times(serve.pid)
                        mailbox.client.select_folder(HOLD)
                        mailbox.client.move("1:*", "INBOX")
                    watch = serve_proc.DatabaseWatch(serve_proc.database_path(root))
                    done = watch.wait_finished(len(corpus), timeout=60 + DRAIN_SECONDS_PER_MESSAGE * len(corpus),
                                              alive=serve.alive)
                    if done is None:
                        raise RuntimeError(f"serve did not take in the mailbox:\n{serve.log_tail()}")
                    cpu = serve_proc.cpu_times(serve.pid) - cpu_before
                    counts = watch.counts()
                finally:
                    serve.stop()
        finally:
            mailbox.close()
    finally:
        server.close()
    seconds = done - started
    per_message = {f"{part}_cpu_ms_per_message": value / len(corpus) * 1000
                   for part, value in (("serve", cpu.serve), ("worker", cpu.workers), ("sender", cpu.sender))}
    return {"messages": len(corpus), "arriving": arriving, "seconds": seconds,
            "messages_per_second": len(corpus) / seconds, **per_message, **counts}
