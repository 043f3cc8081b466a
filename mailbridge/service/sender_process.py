"""The sender: `serve`'s outgoing mail in a process of its own, beside the listener and the processing workers.

Sending (composing nothing, only claiming due outbox rows, handing each to the transport and
recording it: `mailbridge.outgoing.outbox_worker`) used to run as a thread of the processing
worker, where it shared that process's GIL with the parsing and storing it waited on. As a
child of its own it runs on whichever core is free (on two cores: beside the listener). It
speaks the pipe protocol of `mailbridge.service.child_process`: a wake-up means "mail may have
been queued" (`serve` sends one on each processing worker's pulse, that is after each group it
committed and each round, and after each deadline, agents' or escalation tick that queued
mail); with none it still looks every POLL_SECONDS for retries whose time has come and for
mail queued by other processes (a CLI command, another instance). Its pulse `p` comes after
each claimed batch and each round.

Exactly once is the outbox's (`mailbridge.outgoing.outbox`): each mail is claimed in the
database under the sender's lease owner (`lease_owner`) before it is sent and recorded after.
The sender holds `state_dir/sender.lock` for its life: a sender started again (after a crash,
a reload, or a `serve` killed with SIGKILL whose sender is still finishing its batch) waits for
the previous one, then takes back that owner's leases at once; other owners' leases (another
instance, a one-off `mailbridge outbox send`) are never touched. A sender that dies loses
nothing: the mail it had claimed is due again when its lease ends, or at once when the next
sender starts.
"""

from __future__ import annotations

import logging
import os
import sys

from mailbridge.config import Config
from mailbridge.errors import error_line
from mailbridge.logs import Outage
from mailbridge.outgoing.outbox_worker import OutboxWorker, instance_id
from mailbridge.store.db import connect
from mailbridge.service.child_process import (POLL_SECONDS, RETRY_MAX_SECONDS, SENDER_NICENESS, ChildProcess,
                                              ParentLink, hold_slot, run_child, start_child)

# Named, not __name__: run with -m (by hand, to see it refuse), this module is __main__.
log = logging.getLogger("mailbridge.service.sender_process")
_MODULE = "mailbridge.service.sender_process"
NAME = "sender"


class SenderProcess(ChildProcess):
    """The parent's side of the sender (see `ChildProcess`)."""

    def __init__(self, config: Config, url: str, **options) -> None:
        super().__init__(config, url, module=_MODULE, name=NAME, niceness=SENDER_NICENESS, **options)


def lease_owner(config: Config) -> str:
    """Who holds the sender's outbox leases: this machine and state directory's sender."""
    # In front: the owner is cut to 200 characters, and a long state directory must not cut it off.
    return f"sender:{instance_id(config)}"


def send_until_closed(sender: OutboxWorker, link: ParentLink, poll_seconds: float = POLL_SECONDS,
                      pulse_seconds: float = POLL_SECONDS) -> None:
    """Send what is due whenever woken and every `poll_seconds`, backing off while the database is down."""
    outage = Outage(log, "sending", longest=RETRY_MAX_SECONDS)
    run_child(sender, link, poll_seconds=poll_seconds, pulse_seconds=pulse_seconds, outage=outage)


def _resume(sender: OutboxWorker) -> None:
    # The mails the previous sender had claimed when it died are due now, not after their lease.
    try:
        sender.resume()
    except Exception as exc:  # noqa: BLE001 - the database may be down: the leases then just run out
        log.error("could not take back the outbox leases of the previous sender: %s", error_line(exc))


def main(setup: tuple | None = None) -> int:
    """The child: with its setup (from `child_process.enter`, else read here), send due mail until stdin closes."""
    config, url, _, _, pulse_seconds = setup or start_child(_MODULE, SENDER_NICENESS)
    log.info("sender started (pid %d)", os.getpid())
    lock = hold_slot(config, "sender.lock", NAME)
    db = connect(url)
    link = ParentLink(sys.stdin.buffer, sys.stdout.buffer)
    sender = OutboxWorker(db=db, config=config, owner=lease_owner(config), on_progress=link.pulse)
    try:
        _resume(sender)
        send_until_closed(sender, link, pulse_seconds=pulse_seconds)
    finally:
        db.dispose()
        lock.close()
    log.info("sender stopped (pid %d)", os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
