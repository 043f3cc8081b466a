"""The listener's spool: whole files only, bytes kept exactly, loaded into the database once, odd files set aside."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import pytest
from serve_support import count
from sqlmodel import select

from mailbridge.intake import durable
from mailbridge.intake import spool as spool_module
from mailbridge.intake.spool import Spool, SpoolFileError
from mailbridge.store.models import RawMessage

WHEN = datetime(2026, 11, 20, 21, 5, 7, 123456, tzinfo=UTC)
# Raw 8-bit UTF-8 in a header and a windows-1250 body: the spool must not touch a byte.
POLISH = ("Subject: Zażółć gęślą jaźń\r\nFrom: klient@example.org\r\n"
          "Content-Type: text/plain; charset=windows-1250\r\n\r\n").encode() + "Dzień dobry\r\n".encode("cp1250")


@pytest.fixture
def spool(tmp_path) -> Spool:
    return Spool(tmp_path / "spool").create()


def test_a_spooled_message_reads_back_byte_for_byte_with_its_envelope(spool):
    name = spool.put(POLISH, source="smtp", received_at=WHEN, envelope_from="",
                     envelope_rcpts=("pomoc-dynamics@example.com", "soporte@example.com"))
    [path] = spool.waiting()
    assert path.name == name and not os.listdir(spool.tmp)
    item = spool.read(path)
    assert item.raw == POLISH and item.received_at == WHEN and item.envelope_from == ""
    assert item.envelope_rcpts == ("pomoc-dynamics@example.com", "soporte@example.com")
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_waiting_files_come_oldest_first(spool):
    later = spool.put(b"Subject: b\r\n\r\nb", source="smtp", received_at=WHEN.replace(second=9))
    earlier = spool.put(b"Subject: a\r\n\r\na", source="smtp", received_at=WHEN)
    assert [p.name for p in spool.waiting()] == [earlier, later]
    assert [p.name for p in spool.waiting(1)] == [earlier]


def test_half_written_files_are_cleared_at_start_and_never_loaded(spool):
    (spool.tmp / "20261120T210507.1.1").write_bytes(b"mailbridge-spool-1 {\"sou")
    assert spool.clear_unfinished() == 1
    assert spool.waiting() == [] and not os.listdir(spool.tmp)


@pytest.mark.parametrize("content", [b"", b"From: x\r\n\r\nnot ours", b'mailbridge-spool-1 {"source": 1}\nx',
                                     b"mailbridge-spool-1 not json\nx"])
def test_a_file_we_did_not_write_is_refused(spool, content):
    path = spool.new / "odd"
    path.write_bytes(content)
    with pytest.raises(SpoolFileError):
        spool.read(path)


def test_loading_moves_files_into_raw_message_and_removes_them(spool, database):
    for n in range(3):
        spool.put(POLISH + str(n).encode(), source="smtp", received_at=WHEN, envelope_from="klient@example.org",
                  envelope_rcpts=("pomoc-dynamics@example.com",))
    assert durable.load_spool(spool, database, limit=2) == 2
    assert len(spool.waiting()) == 1 and count(database, RawMessage) == 2
    assert durable.load_spool(spool, database) == 1 and durable.load_spool(spool, database) == 0
    with database.session() as session:
        rows = session.exec(select(RawMessage).order_by(RawMessage.id)).all()
    assert [row.content for row in rows] == [POLISH + b"0", POLISH + b"1", POLISH + b"2"]
    assert {row.state for row in rows} == {"pending"} and rows[0].received_at == WHEN
    assert rows[0].envelope_rcpts == ["pomoc-dynamics@example.com"] and rows[0].source == "smtp"


def test_loaded_files_are_gone_before_the_spool_is_looked_at_again(spool, database):
    # The files are removed in a thread of their own; nothing that looks at the spool sees them.
    for n in range(40):
        spool.put(POLISH + str(n).encode(), source="smtp", received_at=WHEN)
    assert durable.load_spool(spool, database) == 40
    assert spool.backlog() == 0 and os.listdir(spool.new) == []
    spool.put(POLISH + b"later", source="smtp", received_at=WHEN)
    assert durable.load_spool(spool, database) == 1 and count(database, RawMessage) == 41


def test_a_load_cut_short_after_its_commit_stores_nothing_twice(spool, database, monkeypatch):
    spool.put(POLISH, source="smtp", received_at=WHEN)
    # The crash: the rows are committed, the files are still there.
    monkeypatch.setattr(Spool, "remove", lambda self, paths: None)
    durable.load_spool(spool, database)
    monkeypatch.undo()
    assert durable.load_spool(spool, database) == 1
    assert spool.waiting() == [] and count(database, RawMessage) == 1


def test_the_same_bytes_spooled_twice_are_one_raw_message(spool, database):
    spool.put(POLISH, source="smtp", received_at=WHEN)
    spool.put(POLISH, source="smtp", received_at=WHEN)
    durable.load_spool(spool, database)
    assert count(database, RawMessage) == 1


def test_an_odd_file_is_set_aside_and_the_rest_is_loaded(spool, database, caplog):
    (spool.new / "0-garbage").write_bytes(b"\x00\x01 not a spool file")
    spool.put(POLISH, source="smtp", received_at=WHEN)
    assert durable.load_spool(spool, database) == 1
    assert os.listdir(spool.bad) == ["0-garbage"] and spool.waiting() == []
    assert "0-garbage cannot be loaded (no mailbridge spool header)" in caplog.text


def test_a_control_character_in_a_spooled_envelope_does_not_stop_the_load(spool, database):
    # Written before the listener refused such senders: on PostgreSQL the NUL made every batch fail.
    spool.put(POLISH, source="smtp", received_at=WHEN, envelope_from="klient\x00@example.org",
              envelope_rcpts=("pomoc-dynamics+a\x00b@example.com",))
    spool.put(POLISH + b"2", source="smtp", received_at=WHEN)
    assert durable.load_spool(spool, database) == 2
    with database.session() as session:
        row = session.exec(select(RawMessage).order_by(RawMessage.id)).first()
    assert row.envelope_from == "klient\ufffd@example.org"
    assert row.envelope_rcpts == ["pomoc-dynamics+a\ufffdb@example.com"]


def test_a_file_the_database_refuses_is_set_aside_and_the_files_behind_it_are_loaded(spool, database, caplog):
    # A naive time (no zone) in the header reads back, and the database layer refuses it; the
    # oldest file used to fail its batch every round, and every file behind it waited.
    spool.put(POLISH, source="smtp", received_at=WHEN.replace(tzinfo=None))
    spool.put(POLISH + b"2", source="smtp", received_at=WHEN)
    spool.put(POLISH + b"3", source="smtp", received_at=WHEN)
    assert durable.load_spool(spool, database) == 2
    assert len(os.listdir(spool.bad)) == 1 and spool.waiting() == []
    assert "the database refused it" in caplog.text
    assert count(database, RawMessage) == 2


def test_a_loaded_file_is_written_into_again_as_the_next_message(spool, database):
    # Creating a file costs the listener most where ext4 runs without a journal (see spool.py).
    spool.put(POLISH + b" a much longer first message" * 40, source="smtp", received_at=WHEN)
    [first] = spool.waiting()
    inode = first.stat().st_ino
    assert durable.load_spool(spool, database) == 1
    spool.settle()
    assert os.listdir(spool.free) == [first.name] and spool.waiting() == []
    # The listener's own Spool (another process): it looked in free/ last when it was empty.
    listener = Spool(spool.directory)
    name = listener.put(POLISH + b"second", source="smtp", received_at=WHEN)
    [second] = spool.waiting()
    assert second.name == name and second.stat().st_ino == inode and not os.listdir(spool.free)
    assert spool.read(second).raw == POLISH + b"second"
    assert durable.load_spool(spool, database) == 1 and count(database, RawMessage) == 2


def test_spares_are_few_and_hold_no_mail(spool, database, monkeypatch):
    monkeypatch.setattr(spool_module, "SPARE_FILES", 2)
    spool.put(b"x" * 300_000, source="smtp", received_at=WHEN)
    for n in range(3):
        spool.put(POLISH + str(n).encode(), source="smtp", received_at=WHEN)
    assert durable.load_spool(spool, database) == 4
    spool.settle()
    assert len(os.listdir(spool.free)) == 2
    # The mail is in the database: no copy of it lingers in free/ until the spare is reused.
    assert all(path.stat().st_size == 0 for path in spool.free.iterdir())


def test_a_spare_a_crash_left_full_is_emptied_at_start(spool):
    # A removal cut short between moving a loaded file to free/ and emptying it.
    (spool.free / "stored-earlier").write_bytes(POLISH)
    spool.clear_unfinished()
    assert (spool.free / "stored-earlier").stat().st_size == 0


def test_a_spare_taken_while_it_is_read_is_not_loaded(spool, database, monkeypatch):
    # Another loader on the same spool removed the file and the listener wrote into it before
    # this loader's read ended: what it read may be half the next message.
    spool.put(POLISH, source="smtp", received_at=WHEN)
    [path] = spool.waiting()
    real_stat = os.stat

    def taken_meanwhile(target, *args, **kwargs):
        if target == path:
            os.rename(path, spool.free / path.name)
        return real_stat(target, *args, **kwargs)

    monkeypatch.setattr(spool_module.os, "stat", taken_meanwhile)
    assert durable.load_spool(spool, database) == 0 and count(database, RawMessage) == 0


def test_a_spare_that_cannot_be_opened_is_not_left_in_tmp(spool, monkeypatch):
    (spool.free / "stored-earlier").write_bytes(POLISH)
    monkeypatch.setattr(spool_module.os, "open", lambda *args: (_ for _ in ()).throw(OSError(24, "Too many open files")))
    with pytest.raises(OSError):
        spool.put(POLISH, source="smtp", received_at=WHEN)
    assert not os.listdir(spool.tmp) and not os.listdir(spool.free)


def test_concurrent_commits_share_directory_syncs_each_begun_after_their_rename(tmp_path, monkeypatch):
    events, lock = [], threading.Lock()

    def log(*event):
        with lock:
            events.append(event)

    def slow_sync(directory):
        number = object()
        log("start", number)
        time.sleep(0.02)
        log("end", number)

    monkeypatch.setattr(spool_module, "sync_directory", slow_sync)
    shared = spool_module.SharedSync(tmp_path)

    def caller(me):
        log("call", me)
        shared.sync()
        log("return", me)

    threads = [threading.Thread(target=caller, args=(me,)) for me in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts = [index for index, event in enumerate(events) if event[0] == "start"]
    assert len(starts) < 8
    for me in range(8):
        called, returned = events.index(("call", me)), events.index(("return", me))
        assert any(called < start and events.index(("end", events[start][1])) < returned for start in starts)


def test_a_failed_directory_sync_fails_its_caller_only(tmp_path, monkeypatch):
    calls = []

    def failing_once(directory):
        calls.append(directory)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(spool_module, "sync_directory", failing_once)
    shared = spool_module.SharedSync(tmp_path)
    with pytest.raises(OSError):
        shared.sync()
    shared.sync()
    assert len(calls) == 2


def test_a_backlog_is_listed_once_not_for_every_batch(spool, database, monkeypatch):
    # Listing and sorting new/ for every batch made a large backlog's drain quadratic.
    names = [spool.put(POLISH + str(n).encode(), source="smtp", received_at=WHEN.replace(second=n))
             for n in range(30)]
    listings = []
    real_listdir = os.listdir
    monkeypatch.setattr(spool_module.os, "listdir", lambda path: listings.append(path) or real_listdir(path))
    while durable.load_spool(spool, database, limit=4):
        pass
    # One listing for the backlog, one more that found new/ empty.
    assert [str(path) for path in listings].count(str(spool.new)) == 2 and spool.waiting() == []
    with database.session() as session:
        stored = session.exec(select(RawMessage.content).order_by(RawMessage.id)).all()
    assert stored == [POLISH + str(n).encode() for n in range(30)] and len(names) == 30


def test_mail_arriving_during_a_backlog_comes_with_the_next_listing(spool, database, monkeypatch):
    for n in range(3):
        spool.put(POLISH + str(n).encode(), source="smtp", received_at=WHEN)
    assert durable.load_spool(spool, database, limit=1) == 1
    later = spool.put(POLISH + b"later", source="smtp", received_at=WHEN.replace(second=30))
    # The listing still holds two files: the new one waits behind them...
    assert later not in [path.name for path in spool.waiting()]
    assert durable.load_spool(spool, database, limit=2) == 2
    # ...and comes once they are taken.
    monkeypatch.setattr(spool_module, "LISTING_SECONDS", 0.0)
    assert [path.name for path in spool.waiting()] == [later]
    # A listing also ends with its time (here at once): one that arrives now is listed at the next look.
    latest = spool.put(POLISH + b"latest", source="smtp", received_at=WHEN.replace(second=40))
    assert [path.name for path in spool.waiting()] == [later, latest]
    assert durable.load_spool(spool, database) == 2 and spool.waiting() == [] and count(database, RawMessage) == 5


def test_listed_files_another_loader_took_hold_nothing_back(spool, database):
    for n in range(5):
        spool.put(POLISH + str(n).encode(), source="smtp", received_at=WHEN.replace(second=n))
    listed = spool.waiting()
    # Another worker on the same state directory loaded four of them after this one listed them.
    for taken in listed[:4]:
        os.rename(taken, spool.free / taken.name)
    # The first two it looks at are gone, and the next two it had listed: it lists the folder
    # again, and loads what is left.
    assert durable.load_spool(spool, database, limit=2) == 1
    assert durable.load_spool(spool, database, limit=2) == 0 and spool.waiting() == []
    with database.session() as session:
        assert session.exec(select(RawMessage.content)).all() == [POLISH + b"4"]
