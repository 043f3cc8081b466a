"""IMAP end to end: `serve` polling a Dovecot mailbox that already holds the corpus, until every ticket is stored."""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import serve_proc
from bench.ingest_e2e import DRAIN_SECONDS_PER_MESSAGE


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


def measure(corpus: Sequence[bytes]) -> dict:
    """Messages per second from serve being ready (its pollers started) to the last ticket stored."""
    dovecot = _dovecot_support()
    Dovecot, MailboxClient, imap_table = dovecot.Dovecot, dovecot.MailboxClient, dovecot.imap_table
    server = Dovecot().start()
    try:
        user = server.add_user()
        mailbox = MailboxClient(server, user)
        mailbox.append(list(corpus))
        mailbox.close()
        with tempfile.TemporaryDirectory(prefix="mb-bench-imap-") as directory:
            root = Path(directory)
            serve_proc.write_config(root, imap_table(server, user, poll_interval=1, batch_size=100))
            serve = serve_proc.ServeProcess(root).start()
            try:
                watch = serve_proc.DatabaseWatch(serve_proc.database_path(root))
                done = watch.wait_finished(len(corpus), timeout=60 + DRAIN_SECONDS_PER_MESSAGE * len(corpus),
                                          alive=serve.alive)
                if done is None:
                    raise RuntimeError(f"serve did not take in the mailbox:\n{serve.log_tail()}")
                counts = watch.counts()
            finally:
                serve.stop()
    finally:
        server.close()
    seconds = done - serve.ready_at
    return {"messages": len(corpus), "seconds": seconds, "messages_per_second": len(corpus) / seconds, **counts}
