"""The sd_notify protocol: tell systemd we are ready, stopping, reloading, and still alive.

A `Type=notify` unit gets `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace);
each state is one datagram of `KEY=VALUE` lines. `WatchdogSec=` sets `$WATCHDOG_USEC`, the
longest systemd waits for `WATCHDOG=1` before it kills and restarts the service. Without
`$NOTIFY_SOCKET` (a terminal, a test without a socket) every call is a no-op, so the daemon
talks the protocol unconditionally. Written directly (a dozen lines) rather than through a
package: the protocol is one `sendto` and the maintained bindings need libsystemd.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """A datagram socket to `$NOTIFY_SOCKET`, or nothing when it is unset."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written `@name` and addressed with a leading NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.watchdog_seconds = _watchdog_seconds(env)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, *lines: str) -> None:
        """Send one datagram of `KEY=VALUE` lines; a failure is logged, never raised."""
        if self._socket is None:
            return
        try:
            self._socket.sendto("\n".join(lines).encode("utf-8"), self._address)
        except OSError as exc:
            log.warning("cannot notify systemd at %s: %s", self._address.lstrip("\0"), exc.strerror or exc)

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def reloading(self) -> None:
        # newer systemd (Type=notify-reload) matches the reload to its request by this timestamp.
        monotonic = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1_000_000)
        self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic}", "STATUS=reloading the config")

    def stopping(self) -> None:
        self.notify("STOPPING=1", "STATUS=stopping")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """The watchdog timeout systemd set for this process, if any (`$WATCHDOG_PID` names who it is for)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000
