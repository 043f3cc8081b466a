"""Parser processes: results in order and equal to parsing in place; a crash or a time-out is pinned on its message alone.

Real forked processes (`mailbridge.service.parsers`), and on SQLite the worker that stores
what they parsed (`Worker(parsers=...)`): a message that kills its parser, or parses past the
time limit, is quarantined at stage parse while the rest of the backlog is stored.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import pytest
from parser_jobs import CRASH, HANG, crash_on_marker, hang_on_marker
from serve_support import count, make_config, message

from bench import mailgen
from mailbridge.intake import durable
from mailbridge.parse.stage import ParseFailure, parse_stage
from mailbridge.service.parsers import ParserPool
from mailbridge.service.worker import Worker
from mailbridge.store.models import Message, Quarantine, RawMessage, Ticket

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def pool_of():
    pools = []

    def make(size: int, job=parse_stage) -> ParserPool:
        pools.append(ParserPool(size, job))
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


def test_two_parsers_give_what_parsing_in_place_gives_in_the_same_order(pool_of):
    corpus = mailgen.generate(40, seed=5)
    results = list(pool_of(2).parsed(corpus, ahead=12))
    assert results == [parse_stage(raw) for raw in corpus]
    # The raw bytes are not sent back, but the result carries them as parsing in place does.
    assert [result.raw for result in results] == corpus


def test_a_message_that_kills_its_parser_fails_alone_and_the_others_are_parsed(pool_of):
    corpus = [message(f"Przed {n}") for n in range(4)] + [message("Zabójcza", body=CRASH.decode())] + \
             [message(f"Po {n}") for n in range(4)]
    results = list(pool_of(2, crash_on_marker).parsed(corpus, ahead=8))
    assert [type(r).__name__ for r in results] == ["ParsedMessage"] * 4 + ["ParseFailure"] + ["ParsedMessage"] * 4
    assert results[4].error.startswith("ParserCrash: the parser process died")
    assert [r.subject for r in results if not isinstance(r, ParseFailure)] == \
           [f"Przed {n}" for n in range(4)] + [f"Po {n}" for n in range(4)]


def test_a_parse_past_the_time_limit_fails_in_the_parser_and_the_next_goes_on(pool_of):
    job = functools.partial(parse_stage, seconds=0.3, parse=hang_on_marker)
    slow, fine = message("Powolna", body=HANG.decode()), message("Zwykła")
    first, second = pool_of(1, job).parsed([slow, fine], ahead=2)
    assert first == ParseFailure("ParseTimeout: took longer than 0.3 s")
    assert second.subject == "Zwykła"


def test_started_parsers_are_up_before_the_first_message_and_parse_it(pool_of):
    pool = pool_of(2)
    pool.start()
    # The executor's own table of its processes: both spawned, and alive, with no message sent yet.
    processes = list(pool._executor._processes.values())
    assert len(processes) == 2 and all(process.is_alive() for process in processes)
    assert [r.subject for r in pool.parsed([message("Pierwsza"), message("Druga")], ahead=2)] == ["Pierwsza", "Druga"]
    assert list(pool._executor._processes.values()) == processes


def test_dropping_the_results_early_leaves_the_pool_usable(pool_of):
    pool, corpus = pool_of(1), [message(f"Wiadomość {n}") for n in range(6)]
    results = pool.parsed(corpus, ahead=4)
    assert next(results).subject == "Wiadomość 0"
    results.close()
    assert [r.subject for r in pool.parsed(corpus[:2], ahead=2)] == ["Wiadomość 0", "Wiadomość 1"]


# Parser processes serve the single SQLite writer; PostgreSQL's workers parse in place.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("marker", "job", "error"), [
    (CRASH, crash_on_marker, "ParserCrash: the parser process died"),
    (HANG, functools.partial(parse_stage, seconds=0.3, parse=hang_on_marker), "ParseTimeout: took longer than 0.3 s"),
], ids=["crash", "time-limit"])
def test_the_sqlite_worker_quarantines_what_its_parser_failed_on_and_stores_the_rest(tmp_path, database, pool_of,
                                                                                    marker, job, error):
    config = make_config(tmp_path, database)
    subjects = ["Pierwsza", "Zła", "Trzecia", "Czwarta"]
    ids = [durable.accept_raw(message(s, body=marker.decode() if s == "Zła" else "Dzień dobry"), db=database,
                              source="smtp", received_at=NOW, envelope_rcpts=("pomoc-dynamics@example.com",))[0].id
           for s in subjects]
    worker = Worker(db=database, config=config, parsers=pool_of(2, job))
    assert worker.drain() == 4
    [held] = durable.list_quarantine(database)
    assert (held.raw_id, held.stage) == (ids[1], "parse") and held.error.startswith(error)
    assert count(database, Ticket) == 3 and count(database, Message) == 3
    assert count(database, RawMessage, RawMessage.state == "pending") == 0
    assert count(database, Quarantine) == 1
