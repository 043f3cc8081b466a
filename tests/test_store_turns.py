"""Writer turns: one thread at a time, re-entrant, in order of asking, urgent waiters (intake) first."""

import threading
import time

from mailbridge.store.turns import WriterTurns


def _wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def test_a_thread_holding_its_turn_can_take_it_again():
    turns = WriterTurns()
    with turns.turn(), turns.turn(urgent=True):
        pass
    # Released completely: another thread gets a turn.
    taken = []

    def other():
        with turns.turn():
            taken.append(True)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(5)
    assert taken == [True]


def test_urgent_waiters_go_before_ordinary_ones():
    turns = WriterTurns()
    order = []

    def writer(name, urgent):
        with turns.turn(urgent=urgent):
            order.append(name)

    with turns.turn():
        ordinary = threading.Thread(target=writer, args=("worker", False))
        ordinary.start()
        _wait_until(lambda: turns.waiting == 1)
        urgent = threading.Thread(target=writer, args=("intake", True))
        urgent.start()
        _wait_until(lambda: turns.waiting == 2)
    ordinary.join(5)
    urgent.join(5)
    assert order == ["intake", "worker"]


def test_only_one_thread_writes_at_a_time():
    turns = WriterTurns()
    inside, most = [0], [0]
    lock = threading.Lock()

    def writer(urgent):
        for _ in range(200):
            with turns.turn(urgent=urgent):
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=writer, args=(i % 2 == 0,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most[0] == 1 and turns.waiting == 0


def test_a_thread_asking_again_waits_behind_those_already_waiting():
    turns = WriterTurns()
    order = []

    def writer(name):
        with turns.turn():
            order.append(name)

    with turns.turn():
        waiting = threading.Thread(target=writer, args=("poller",))
        waiting.start()
        _wait_until(lambda: turns.waiting == 1)
    # The releasing thread asks again at once, yet the one already waiting goes first.
    with turns.turn():
        order.append("worker")
    waiting.join(5)
    assert order == ["poller", "worker"]


def test_turns_of_two_processes_exclude_each_other_through_the_lock_file(tmp_path):
    # Two WriterTurns on one lock file stand for two processes: each has its own open file.
    mine, theirs = WriterTurns(tmp_path / "db-turn"), WriterTurns(tmp_path / "db-turn")
    order = []

    def other():
        with theirs.turn():
            order.append("theirs")

    with mine.turn():
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.2)
        order.append("mine")
    thread.join(5)
    assert order == ["mine", "theirs"]
    mine.close()
    theirs.close()


def test_without_a_usable_lock_file_turns_still_work(tmp_path):
    turns = WriterTurns(tmp_path / "missing-folder" / "db-turn")
    with turns.turn():
        with turns.turn(urgent=True):
            pass
    turns.close()
