"""Escalation cost on its own: one tick over N due critical tickets, then sending their SMS (`log` provider).

The example config's ladders (the Polish table) on a fresh SQLite database, or on PostgreSQL with
`--database-url`: N critical tickets are stored first (not timed), then one tick claims them and
runs each one's first step (three e-mails queued in the outbox, one SMS queued), and one pass sends
the SMS through the `log` provider (a locked, synced append per SMS). Prints milliseconds per step
and per SMS. Run: `.venv/bin/python -m bench.escalation_bench [--tickets 300] [--database-url URL]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from mailbridge import pipeline
from mailbridge.config import load_config
from mailbridge.escalation import tick
from mailbridge.escalation.sms.choose import provider_for
from mailbridge.escalation.sms.sender import deliver_due
from mailbridge.store.db import open_database
from mailbridge.store.types import utcnow

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "mailbridge.example.toml"


def measure(tickets: int, database_url: str | None = None) -> dict:
    """Store `tickets` critical tickets, then time one tick over them and one SMS pass."""
    with tempfile.TemporaryDirectory(prefix="mb-bench-escalation-") as directory:
        root = Path(directory)
        (root / "state").mkdir()
        text = EXAMPLE.read_text(encoding="utf-8").replace('state_dir = ""', f'state_dir = "{root / "state"}"', 1)
        if database_url:
            text = text.replace('url = ""', f'url = "{database_url}"', 1)
        path = root / "mailbridge.toml"
        path.write_text(text, encoding="utf-8")
        config = load_config(path, env={})
        db = open_database(config.database_url)
        try:
            now = utcnow()
            for number in range(tickets):
                pipeline.ingest(_critical(number, now.timestamp()), db=db, config=config, now=now, source="bench",
                                received_at=now)
            started = time.perf_counter()
            ticked = tick.run_due(db=db, config=config, secret=config.secret_bytes(), now=now)
            ticked_at = time.perf_counter()
            sent = deliver_due(db=db, config=config, provider=provider_for(config), clock=utcnow, limit=tickets * 2)
            done = time.perf_counter()
        finally:
            db.dispose()
    return {"tickets": tickets, "steps": ticked.steps, "sms": sent.sent,
            "ms_per_step": (ticked_at - started) / max(ticked.steps, 1) * 1000,
            "ms_per_sms": (done - ticked_at) / max(sent.sent, 1) * 1000}


def _critical(number: int, stamp: float) -> bytes:
    return (f"Message-ID: <bench-{stamp}-{number}@klient.pl>\nFrom: klient{number}@klient.pl\n"
            f"To: awarie@example.com\nSubject: AWARIA KRYTYCZNA {number}\n"
            "Content-Type: text/plain; charset=utf-8\n\nSystem stoi.\n").encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.escalation_bench", description=__doc__)
    parser.add_argument("--tickets", type=int, default=300, help="due critical tickets (default 300)")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    figures = measure(args.tickets, args.database_url)
    print(f"escalation tick: {figures['ms_per_step']:.1f} ms/step over {figures['steps']} steps; "
          f"SMS (log provider): {figures['ms_per_sms']:.1f} ms/SMS over {figures['sms']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
