"""Parse jobs for the parser-process tests: module-level, so that a forked parser can import them."""

from __future__ import annotations

import os
import signal

from mailbridge.parse import parse_message
from mailbridge.parse.stage import parse_stage

CRASH = b"PARSER-CRASH"
HANG = b"PARSER-HANG"


def crash_on_marker(raw: bytes):
    """Kill the parser process on a message carrying CRASH, as the kernel's OOM killer would."""
    if CRASH in raw:
        os.kill(os.getpid(), signal.SIGKILL)
    return parse_stage(raw)


def hang_on_marker(raw: bytes):
    """Spin on a message carrying HANG, like a parser stuck on pathological input."""
    while HANG in raw:
        pass
    return parse_message(raw)
