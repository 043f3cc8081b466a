"""While the database is down the workers back off for real and say so once, not twice per arriving mail."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

from serve_support import make_config
from smtp_sink import free_port

from mailbridge.logs import Outage
from mailbridge.outgoing.outbox_worker import OutboxWorker
from mailbridge.service.worker import Worker
from mailbridge.service.sender_process import send_until_closed
from mailbridge.service.child_process import run_child
from mailbridge.store.db import connect


class Link:
    """The parent's side as the child sees it: wake-ups and the end."""

    def __init__(self) -> None:
        self.woken, self.closed = threading.Event(), threading.Event()
        self.pulses = 0

    def pulse(self) -> None:
        self.pulses += 1


def config_for(tmp_path):
    return make_config(tmp_path, SimpleNamespace(url=f"sqlite:///{tmp_path / 'unused.sqlite3'}"))


def down_database():
    # Nothing listens on this port: every connection attempt is refused, as with PostgreSQL stopped.
    return connect(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mailbridge")


def wake_while_down(db, run) -> None:
    """Run a child's loop (`run(link)`) in a thread, wake it every 25 ms for 2.5 s, then let it go."""
    link = Link()
    child = threading.Thread(target=run, args=(link,))
    child.start()
    try:
        for _ in range(100):
            link.woken.set()
            time.sleep(0.025)
    finally:
        link.closed.set()
        child.join(30)
        db.dispose()


def test_mail_arriving_during_an_outage_does_not_make_the_worker_retry_each_time(tmp_path, caplog):
    db = down_database()
    worker = Worker(db=db, config=config_for(tmp_path))
    tries = []
    drain = worker.drain
    worker.drain = lambda *args: tries.append(time.monotonic()) or drain(*args)
    caplog.set_level(logging.DEBUG, logger="mailbridge")
    # A message arriving every 25 ms for 2.5 s.
    wake_while_down(db, lambda link: run_child(worker, link, lambda: None, poll_seconds=0.05))
    # Tries at 0, 1 and 3 s of pauses (1 s, then 2 s): never one per message.
    assert 1 <= len(tries) <= 3, len(tries)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "processing paused" in errors[0].getMessage()


def test_the_sender_backs_off_and_logs_once(tmp_path, caplog):
    db = down_database()
    sender = OutboxWorker(db=db, config=config_for(tmp_path))
    tries = []
    drain = sender.drain
    sender.drain = lambda *args: tries.append(1) or drain(*args)
    caplog.set_level(logging.INFO, logger="mailbridge")
    # A worker's pulse every 25 ms for 2.5 s.
    wake_while_down(db, lambda link: send_until_closed(sender, link, poll_seconds=0.05))
    assert 1 <= len(tries) <= 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "sending paused" in errors[0].getMessage()


def test_an_outage_doubles_its_pause_and_reports_the_recovery_once(caplog):
    now = [0.0]
    outage = Outage(logging.getLogger("mailbridge.test"), "processing", longest=8, clock=lambda: now[0])
    caplog.set_level(logging.DEBUG)
    assert [outage.failed("connection refused") for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    now[0] = 31.0
    outage.recovered()
    outage.recovered()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 2
    assert "goes on again after 6 failed tries in 31 s" in lines[1]
