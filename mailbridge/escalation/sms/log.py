"""The `log` provider (the default): each SMS is one JSON line appended to STATE_DIR/sms-outbox.jsonl.

Nothing leaves the machine; an operator (or a test) reads the file. A line is written and synced
under an exclusive lock, after looking for the SMS's key among the lines already there, so a retry
after a crash between the write and its record in the database writes nothing twice.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from mailbridge.escalation.sms.base import Outgoing, Receipt, Temporary


class LogProvider:
    """Appends `{"id", "to", "text", "ticket", "step", "at"}` per SMS to one file."""

    name = "log"

    def __init__(self, path: Path, clock: Callable[[], datetime]) -> None:
        self.path, self.clock = path, clock

    def send(self, message: Outgoing) -> Receipt:
        line = {"id": message.key, "to": message.to, "text": message.text, "ticket": message.ticket,
                "step": message.step, "at": self.clock().isoformat(timespec="seconds")}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+", encoding="utf-8") as file:
                fcntl.flock(file, fcntl.LOCK_EX)
                if _written(file, message.key):
                    return Receipt(message.key, f"already in {self.path}", duplicate=True)
                file.write(json.dumps(line, ensure_ascii=False) + "\n")
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            raise Temporary(f"cannot write {self.path}: {exc.strerror or exc}") from None
        return Receipt(message.key, f"written to {self.path}")


def _written(file, key: str) -> bool:
    """Whether a line with this id is in the file already (it is read from the start)."""
    file.seek(0)
    needle = json.dumps(key)
    for text in file:
        if needle in text:
            try:
                if json.loads(text).get("id") == key:
                    return True
            except ValueError:
                continue
    return False
