"""File sources: .eml files, mbox files, Maildir folders, and the "received" time of each."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from mailbridge.sources.files import (
    SourceError,
    count_messages,
    iter_path,
    iter_paths,
    received_at,
)

MSG_A = b"From: a@example.org\nSubject: one\n\nbody one\n"
MSG_B = b"From: b@example.org\nSubject: two\n\nbody two\n"


def _write_mbox(path, messages, escape=True):
    with path.open("wb") as handle:
        for raw in messages:
            handle.write(b"From sender@example.org Mon Jan  5 10:00:00 2026\n")
            for line in raw.splitlines(keepends=True):
                if escape and line.lstrip(b">").startswith(b"From "):
                    line = b">" + line
                handle.write(line)
            handle.write(b"\n")


def test_single_eml_file_is_one_message_with_its_exact_bytes(tmp_path):
    path = tmp_path / "one.eml"
    path.write_bytes(MSG_A)
    [message] = list(iter_path(path))
    assert message.raw == MSG_A
    assert message.source == f"file:{path}"


def test_mbox_yields_each_message_without_the_from_line(tmp_path):
    path = tmp_path / "box.mbox"
    _write_mbox(path, [MSG_A, MSG_B])
    messages = list(iter_path(path))
    assert [m.raw for m in messages] == [MSG_A, MSG_B]
    assert [m.source for m in messages] == [f"file:{path}#1", f"file:{path}#2"]


def test_mboxrd_escaped_from_lines_are_restored(tmp_path):
    body = b"From: a@example.org\nSubject: quoting\n\nFrom the start\n>From quoted\nplain\n"
    path = tmp_path / "box.mbox"
    _write_mbox(path, [body, MSG_B])
    first, second = list(iter_path(path))
    assert first.raw == body
    assert second.raw == MSG_B


def test_unescaped_from_inside_a_paragraph_does_not_split_the_message(tmp_path):
    body = b"Subject: x\n\nline one\nFrom here on it is one message\n"
    path = tmp_path / "box.mbox"
    _write_mbox(path, [body], escape=False)
    assert [m.raw for m in iter_path(path)] == [body]


def test_crlf_mbox_keeps_crlf_and_drops_the_separator_line(tmp_path):
    raw = b"Subject: crlf\r\n\r\nbody\r\n"
    path = tmp_path / "box.mbox"
    path.write_bytes(b"From x Mon Jan  5 10:00:00 2026\r\n" + raw + b"\r\n" + b"From y Mon Jan  5 10:00:00 2026\r\n" + raw)
    assert [m.raw for m in iter_path(path)] == [raw, raw]


def test_maildir_reads_new_then_cur_and_ignores_tmp(tmp_path):
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "new" / "1.host").write_bytes(MSG_A)
    (tmp_path / "cur" / "2.host:2,S").write_bytes(MSG_B)
    (tmp_path / "tmp" / "3.host").write_bytes(b"Subject: half written\n")
    assert [m.raw for m in iter_path(tmp_path)] == [MSG_A, MSG_B]
    assert count_messages([tmp_path]) == 2


def test_plain_directory_reads_its_eml_files_sorted(tmp_path):
    (tmp_path / "b.eml").write_bytes(MSG_B)
    (tmp_path / "a.eml").write_bytes(MSG_A)
    (tmp_path / "notes.txt").write_bytes(b"not mail")
    assert [m.raw for m in iter_path(tmp_path)] == [MSG_A, MSG_B]


def test_several_paths_in_order_and_counted(tmp_path):
    eml = tmp_path / "one.eml"
    eml.write_bytes(MSG_A)
    mbox = tmp_path / "box.mbox"
    _write_mbox(mbox, [MSG_A, MSG_B, MSG_A])
    assert len(list(iter_paths([eml, mbox]))) == 4
    assert count_messages([eml, mbox]) == 4


def test_missing_path_is_a_source_error_naming_it(tmp_path):
    missing = tmp_path / "nope.eml"
    with pytest.raises(SourceError, match="nope.eml: no such file"):
        list(iter_path(missing))


def test_received_is_the_topmost_received_header_in_utc():
    raw = (
        b"Received: from mx.example.com by mail.example.com; Tue, 6 Jan 2026 10:15:00 +0100\n"
        b"Received: from laptop by mx.example.com; Tue, 6 Jan 2026 08:00:00 +0100\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody\n"
    )
    assert received_at(raw, 0.0) == datetime(2026, 1, 6, 9, 15, tzinfo=UTC)


def test_received_skips_an_unreadable_topmost_date():
    raw = (
        b"Received: from mx by mail; garbage date\n"
        b"Received: from a by mx;\n Tue, 6 Jan 2026 08:00:00 -0000\n\nbody\n"
    )
    assert received_at(raw, 0.0) == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


def test_received_falls_back_to_file_mtime_not_the_date_header(tmp_path):
    path = tmp_path / "no-received.eml"
    path.write_bytes(b"Date: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: x\n\nbody\n")
    stamp = datetime(2026, 3, 2, 12, 30, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    [message] = list(iter_path(path))
    assert message.received_at == datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
