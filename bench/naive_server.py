"""The machine's naive limit: a bare aiosmtpd server that parses with the stdlib and inserts one SQLite row per message.

Per message, before answering 250: `email.message_from_bytes(raw, policy=policy.default)`, the
content of every text part, and one INSERT (raw bytes, Message-ID, sender, subject, text) in its
own transaction, WAL journal. `--synchronous FULL` (the default) makes every commit as durable as
mailbridge's intake; `--synchronous NORMAL` is what a naive server usually runs with (a power cut
may lose the last commits, though the 250 was given): the faster of the two limits, and the one
issue 17 measures against. Everything runs on the event loop of one process, as the simplest
server would. Run: `python -m bench.naive_server --db PATH [--synchronous NORMAL]`; it prints
`listening PORT`.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import signal
import sqlite3
import sys

from aiosmtpd.smtp import SMTP

SYNCHRONOUS = ("FULL", "NORMAL")
SCHEMA = """CREATE TABLE IF NOT EXISTS mail (
    id INTEGER PRIMARY KEY, message_id TEXT, sender TEXT, subject TEXT, text TEXT, raw BLOB NOT NULL)"""


class NaiveHandler:
    """Parse, insert, commit, answer: nothing else."""

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.execute(SCHEMA)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        texts = []
        for part in message.walk():
            if part.get_content_maintype() != "text":
                continue
            try:
                texts.append(part.get_content())
            except Exception:  # noqa: BLE001 - odd charsets make the stdlib raise; a real server goes on
                continue
        row = (str(message.get("Message-ID", "")), str(message.get("From", "")),
               str(message.get("Subject", "")), "\n".join(texts), raw)
        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO mail (message_id, sender, subject, text, raw) VALUES (?, ?, ?, ?, ?)", row)
        self.db.execute("COMMIT")
        return "250 OK stored"


async def serve(path: str, synchronous: str = "FULL") -> None:
    loop = asyncio.get_running_loop()
    handler = NaiveHandler(path, synchronous)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="naive.example.com", data_size_limit=26214400, enable_SMTPUTF8=True),
        "127.0.0.1", 0)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive_server", description=__doc__)
    parser.add_argument("--db", required=True, help="the SQLite file to insert into")
    parser.add_argument("--synchronous", choices=SYNCHRONOUS, default="FULL",
                        help="SQLite's synchronous pragma: FULL (as durable as mailbridge) or NORMAL")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.db, args.synchronous))
    return 0


if __name__ == "__main__":
    sys.exit(main())
