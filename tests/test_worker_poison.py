"""A message that kills the worker process (as the kernel's OOM killer would) is quarantined after a few crashes, and the rest goes on."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
from serve_support import count, message, write_config

from mailbridge import pipeline
from mailbridge.intake import durable
from mailbridge.service.worker import GROUP, MAX_ATTEMPTS
from mailbridge.store.models import Message, Quarantine, RawMessage

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# The worker as `serve` runs it, in a process of its own, except that one message kills it: the
# probe's 10 million blank lines needed 920 MB and were OOM-killed under MemoryMax=512M.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from mailbridge import pipeline
    from mailbridge.config import load_config
    from mailbridge.service import worker
    from mailbridge.service.worker import Worker
    from mailbridge.store.db import connect

    def process(row, **kwargs):
        if b"ZATRUTA" in row.content:
            os.kill(os.getpid(), signal.SIGKILL)
        return pipeline.process(row, **kwargs)

    def parse_stage(raw, *args, parse=worker.parse_stage):
        if b"ZATRUTA" in raw:
            os.kill(os.getpid(), signal.SIGKILL)
        return parse(raw, *args)

    if sys.argv[3] != "-":
        worker.GROUP = int(sys.argv[3])
    if sys.argv[4] == "parse":
        # Killed by its parse, which may run while the group before it commits (`_parse_early`).
        worker.parse_stage = pipeline.parse_stage = parse_stage
        process = pipeline.process
    config = load_config(sys.argv[1], env={})
    db = connect(sys.argv[2])
    Worker(db=db, config=config, process=process).drain()
""")


def run_worker(config_path, url, group: int | None = None, killed_by: str = "process") -> int:
    command = [sys.executable, "-c", CHILD, str(config_path), url, str(group or "-"), killed_by]
    return subprocess.run(command, timeout=120).returncode


# In the first group of a claim, whose attempts are committed on their own; in the second
# (groups of 4 on SQLite), whose attempts are committed with the first group's result; killed
# by its parse, which in the second group runs while the first commits.
@pytest.mark.parametrize(("poisoned_at", "group", "killed_by"),
                         [(3, None, "process"), (5, 4, "process"), (5, 4, "parse"), (4, 4, "parse")])
def test_a_message_that_kills_the_worker_is_quarantined_and_its_group_is_processed(tmp_path, database,
                                                                                   poisoned_at, group, killed_by):
    config_path = write_config(tmp_path, database_url=database.url)
    ids = [durable.accept_raw(message(f"Zgłoszenie {n}", body="ZATRUTA" if n == poisoned_at else "Dzień dobry"),
                              db=database, source="smtp", received_at=NOW,
                              envelope_rcpts=("pomoc-dynamics@example.com",))[0].id for n in range(12)]
    poisoned = ids[poisoned_at]
    codes = [run_worker(config_path, database.url, group, killed_by) for _ in range(MAX_ATTEMPTS + 3)]
    # Killed once per attempt on the poisoned message, then it is set aside and the rest finish.
    # A parse beside the commit of the group before may kill it before that commit is over:
    # that group is then redone (one attempt more on each of its rows), and the poisoned
    # message, not counted yet, costs one crash more.
    early = killed_by == "parse" and database.dialect == "sqlite" and poisoned_at >= (group or GROUP)
    kills = codes.count(-signal.SIGKILL)
    assert kills == MAX_ATTEMPTS or (early and kills == MAX_ATTEMPTS + 1), codes
    assert codes[kills:] == [0] * (len(codes) - kills)
    held = durable.list_quarantine(database)
    assert [(q.raw_id, q.stage) for q in held] == [(poisoned, "worker")]
    assert "never finished" in held[0].error
    assert count(database, RawMessage, RawMessage.state == "done") == 11
    assert count(database, Message) == 11 and count(database, Quarantine) == 1


def test_a_stop_counts_no_attempt_against_the_messages_it_did_not_start(tmp_path, database):
    # serve stops (or is killed, and its worker sees the pipe close) in the middle of a group:
    # the rows it did not start are no suspects, or enough restarts would quarantine them.
    from serve_support import make_config

    from mailbridge.service.worker import Worker

    ids = [durable.accept_raw(message(f"Zgłoszenie {n}"), db=database, source="smtp", received_at=NOW,
                              envelope_rcpts=("pomoc-dynamics@example.com",))[0].id for n in range(5)]
    calls = []

    def process(row, **kwargs):
        calls.append(row.id)
        return pipeline.process(row, **kwargs)

    worker = Worker(db=database, config=make_config(tmp_path, database), process=process)
    for _ in range(4):
        worker.drain(should_stop=lambda: len(calls) % 2 == 1)
        calls.clear()
    attempts = durable.attempts_of(database, ids)
    assert max(attempts.values()) == 1 and count(database, Quarantine) == 0
