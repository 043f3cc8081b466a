"""Memory stays flat however large the input: messages are streamed, or taken in batches bounded in bytes, never all loaded.

Each test runs a small and a five-times larger mbox of generated mail in two real processes
(side by side) and compares their peak RSS:

- reading and parsing every message of a 2,000- and a 10,000-message mbox (the streaming path);
- the whole `mailbridge ingest` command (durable intake, threading, storage in SQLite) on 150
  and 750 messages that each carry an attachment. The whole pipeline costs a few milliseconds
  per message, so 10,000 of them would take about a minute; measured by hand, ingesting 2,000
  and 10,000 messages peaked at 80.5 MB and 80.7 MB RSS.

- the storing worker draining a spool of 4 and of 40 large (3 MB) messages: a spool load and a
  claim hold at most `durable.BATCH_BYTES` of mail, not a hundred messages whatever their size.

The bound is generous and there are no timing assertions: what fails it is memory that grows
with the input (the mbox read whole, outcomes kept in a list, a session never cleared), which
would add at least the extra input's size to the larger run's peak.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
BODY = "Faktura nie księguje się w module finansowym, proszę o pomoc.\n"
# One 24 KB attachment, the same in every message: it makes the input large without making
# each message slow to store (its bytes are stored once, by hash).
ATTACHMENT = base64.encodebytes(bytes(range(256)) * 96).decode("ascii")


def write_mbox(path: Path, count: int, attachment: bool = False) -> Path:
    """An mbox of `count` messages: every tenth opens a thread, the others reply to it."""
    with path.open("wb") as handle:
        for number in range(count):
            handle.write(_message(number, attachment).encode())
    return path


def _message(number: int, attachment: bool) -> str:
    root = number - number % 10
    headers = [
        f"From klient{root}@klient.example Mon Jan  5 10:00:00 2026",
        f"Received: from mx by mail.example.com; Mon, 5 Jan 2026 10:{number % 60:02d}:00 +0100",
        f"Message-ID: <m{number}@klient.example>",
        f"From: Klient {root} <klient{root}@klient.example>",
        "To: pomoc-dynamics@example.com",
        f"Subject: {'Re: ' if number != root else ''}Sprawa {root}",
        "Date: Mon, 5 Jan 2026 10:00:00 +0100",
        "MIME-Version: 1.0",
    ]
    if number != root:
        headers.append(f"In-Reply-To: <m{root}@klient.example>")
    text = BODY * 12 + f"Wiadomość {number}.\n"
    if not attachment:
        return "\n".join(headers) + f"\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
    return "\n".join(headers) + (
        '\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\n'
        f"{text}--b\nContent-Type: application/octet-stream\n"
        'Content-Disposition: attachment; filename="log.bin"\nContent-Transfer-Encoding: base64\n\n'
        f"{ATTACHMENT}--b--\n\n"
    )


_PARSE_ALL = """
import resource, sys
from pathlib import Path
from mailbridge.parse import parse_message
from mailbridge.sources.files import iter_path
count = sum(1 for item in iter_path(Path(sys.argv[1])) if parse_message(item.raw).message_id)
print("COUNT", count)
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

_INGEST = """
import resource, sys
from mailbridge.cli import main
sys.argv = ["mailbridge", "ingest", "--yes", "--config", sys.argv[2], sys.argv[1]]
try:
    main()
except SystemExit as exit:
    print("EXIT", exit.code)
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


_DRAIN = """
import base64, resource, sys
from datetime import UTC, datetime
from pathlib import Path
from mailbridge.config import load_config
from mailbridge.intake.spool import Spool
from mailbridge.service.worker import Worker
from mailbridge.store.db import open_database
config = load_config(Path(sys.argv[2]), env={})
spool = Spool(config.state_dir / "spool").create()
attachment = base64.encodebytes(bytes(range(256)) * (3 * 3 * 1024 * 1024 // 4 // 256))
for number in range(int(sys.argv[1])):
    spool.put(f"From: klient{number}@klient.example\\r\\nTo: pomoc-dynamics@example.com\\r\\n"
              f"Subject: Zrzuty ekranu {number}\\r\\nMessage-ID: <duzy{number}@klient.example>\\r\\n"
              "MIME-Version: 1.0\\r\\nContent-Type: multipart/mixed; boundary=b\\r\\n\\r\\n--b\\r\\n"
              "Content-Type: text/plain; charset=utf-8\\r\\n\\r\\nW załączniku.\\r\\n--b\\r\\n"
              "Content-Type: application/octet-stream\\r\\nContent-Transfer-Encoding: base64\\r\\n\\r\\n".encode()
              + attachment + b"--b--\\r\\n", source="smtp:test", received_at=datetime.now(UTC), envelope_rcpts=())
del attachment
db = open_database(config.database_url)
print("DRAINED", Worker(db=db, config=config, spool=spool).drain())
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _run_side_by_side(script: str, runs: list[list[str]]) -> list[tuple[str, int]]:
    """Run `script` once per argument list, concurrently; (stdout, peak RSS in bytes) of each."""
    processes = [
        subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for args in runs
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        rss = next(int(line.split()[1]) for line in out.splitlines() if line.startswith("MAXRSS_KB"))
        results.append((out, rss * 1024))
    return results


def _assert_flat(small: Path, large: Path, small_rss: int, large_rss: int) -> None:
    extra_input = large.stat().st_size - small.stat().st_size
    assert extra_input > 8 * 1024 * 1024
    assert large_rss - small_rss < extra_input / 2, (small_rss, large_rss, extra_input)


def test_reading_and_parsing_10000_messages_peaks_like_2000(tmp_path):
    small = write_mbox(tmp_path / "small.mbox", 2_000)
    large = write_mbox(tmp_path / "large.mbox", 10_000)
    (small_out, small_rss), (large_out, large_rss) = _run_side_by_side(_PARSE_ALL, [[str(small)], [str(large)]])
    assert "COUNT 2000" in small_out and "COUNT 10000" in large_out
    _assert_flat(small, large, small_rss, large_rss)


def _config(state_dir: Path) -> Path:
    path = state_dir / "mailbridge.toml"
    path.write_text(
        f'[mailbridge]\nstate_dir = "{state_dir}"\nsecret = "memory-test-secret-0123456789abcdef"\n'
        '[[queues]]\nname = "dynamics"\naddress = "pomoc-dynamics@example.com"\ncode_prefix = "DYN"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def state_dirs(tmp_path):
    """Two state directories, in memory when /dev/shm exists: this test measures memory, not fsync."""
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path
    with tempfile.TemporaryDirectory(dir=base) as small, tempfile.TemporaryDirectory(dir=base) as large:
        yield Path(small), Path(large)


def test_ingest_command_peak_memory_does_not_grow_with_the_mbox(tmp_path, state_dirs):
    small = write_mbox(tmp_path / "small.mbox", 150, attachment=True)
    large = write_mbox(tmp_path / "large.mbox", 750, attachment=True)
    runs = [[str(small), str(_config(state_dirs[0]))], [str(large), str(_config(state_dirs[1]))]]
    (small_out, small_rss), (large_out, large_rss) = _run_side_by_side(_INGEST, runs)
    assert "150 message(s): created 15, threaded 135" in small_out
    assert "750 message(s): created 75, threaded 675" in large_out
    _assert_flat(small, large, small_rss, large_rss)


def test_draining_a_spool_of_large_messages_peaks_like_a_few_of_them(state_dirs):
    runs = [["4", str(_config(state_dirs[0]))], ["40", str(_config(state_dirs[1]))]]
    (small_out, small_rss), (large_out, large_rss) = _run_side_by_side(_DRAIN, runs)
    assert "DRAINED 4" in small_out and "DRAINED 40" in large_out
    # 36 more messages of 3 MB, held all at once (read from the spool, later claimed back), added
    # 115 MB to the peak; a batch of at most 16 MB holds only a few more than the small run's.
    assert large_rss - small_rss < 48 * 1024 * 1024, (small_rss, large_rss)
