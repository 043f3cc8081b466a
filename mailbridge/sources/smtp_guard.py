"""The listener's defences against hostile clients: connection caps, short idle time, strict envelope syntax, AUTH back-off.

What a probe did to the listener, and what each part here answers:

- 1,100 idle connections from one untrusted address used up the process's file descriptors
  and the trusted MTA timed out: `ConnectionLimits` caps connections per untrusted address and
  in total, and keeps half of the total for trusted networks; an untrusted client that has not
  given MAIL FROM within `untrusted_idle_seconds` is disconnected.
- `MAIL FROM:<a\\0b@x>` was answered 250 and later stalled the worker on PostgreSQL, and
  `RCPT TO:<support @example.com>` (aiosmtpd drops the space) was taken as the queue address:
  `check_path` refuses control characters and spaces inside an envelope path with 501.
- thousands of failed logins a second went unhindered and logged one line each:
  `AuthThrottle` delays the answers to an address that keeps failing and logs once per burst.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

TOO_MANY_CONNECTIONS = b"421 4.7.0 Too many connections, please try again later\r\n"
BAD_SENDER = "501 5.1.7 Bad sender address syntax"
BAD_RECIPIENT = "501 5.1.3 Bad recipient address syntax"
# Anything below a space (NUL, CR, LF, TAB…), DEL and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s")


def check_path(arg: str | None, keyword: str) -> bool:
    """Whether the argument of MAIL (`FROM:`) or RCPT (`TO:`) is free of controls and of spaces in its path.

    aiosmtpd's address parser folds `<support @example.com>` into `support@example.com` and lets
    NUL through; neither is a mailbox a real MTA sends.
    """
    if arg is None:
        return True
    if _CONTROL.search(arg):
        return False
    rest = arg[len(keyword):] if arg[:len(keyword)].upper() == keyword else arg
    rest = rest.lstrip()
    if rest.startswith("<"):
        end = rest.find(">")
        path = rest[1:end] if end >= 0 else rest[1:]
        return not _SPACE.search(path)
    return True


@dataclass
class ConnectionLimits:
    """Open connections by client address; untrusted ones are capped per address and together."""

    total: int
    per_client: int
    open: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    untrusted: int = 0

    def admit(self, host: str, trusted: bool) -> bool:
        """Count a new connection in, or False when it must be refused."""
        count = sum(self.open.values())
        if count >= self.total:
            return False
        if not trusted and (self.untrusted >= self.total // 2 or self.open[host] >= self.per_client):
            return False
        self.open[host] += 1
        self.untrusted += not trusted
        return True

    def release(self, host: str, trusted: bool) -> None:
        self.open[host] -= 1
        if self.open[host] <= 0:
            del self.open[host]
        self.untrusted -= not trusted


# A burst of failures ends after this long without one; the count starts again then.
AUTH_BURST_GAP_SECONDS = 300.0
# Failures allowed before the answers slow down, and the longest delay of one answer.
AUTH_FREE_FAILURES = 3
AUTH_MAX_DELAY_SECONDS = 8.0


@dataclass
class _Burst:
    failures: int = 0
    last: float = 0.0


class AuthThrottle:
    """Failed logins per client address: a growing delay before each AUTH answer, one log line per burst."""

    def __init__(self, clock=time.monotonic) -> None:
        self._bursts: dict[str, _Burst] = {}
        self._clock = clock

    def delay(self, host: str) -> float:
        """Seconds to wait before answering this address's next AUTH (0 while it has not failed much)."""
        burst = self._current(host)
        extra = burst.failures - AUTH_FREE_FAILURES
        return 0.0 if extra < 0 else min(0.25 * 2 ** extra, AUTH_MAX_DELAY_SECONDS)

    def failed(self, host: str, user: str, mechanism: str) -> None:
        burst = self._current(host)
        burst.failures += 1
        burst.last = self._clock()
        # The first failure of a burst is told at once, then each tenfold; never one line per attempt.
        if burst.failures == 1:
            log.warning("AUTH %s failed for user %r from %s; further failures from %s are counted, "
                        "and answered more and more slowly", mechanism, user, host, host)
        elif _power_of_ten(burst.failures):
            log.warning("AUTH: %d failed logins from %s in this burst (last user %r)", burst.failures, host, user)

    def succeeded(self, host: str) -> None:
        self._bursts.pop(host, None)

    def _current(self, host: str) -> _Burst:
        burst = self._bursts.get(host)
        if burst is None or self._clock() - burst.last > AUTH_BURST_GAP_SECONDS:
            if burst is not None and burst.failures > 1:
                log.info("AUTH: the burst of %d failed logins from %s is over", burst.failures, host)
            burst = self._bursts[host] = _Burst()
        return burst


def _power_of_ten(number: int) -> bool:
    while number % 10 == 0 and number > 1:
        number //= 10
    return number == 1


class Guarded:
    """A mixin for aiosmtpd's SMTP and LMTP classes applying the defences of this module.

    The handler (`self.event_handler`, an IntakeHandler) holds the shared `limits`, the
    `throttle`, the listener settings and `trusted(peer)`.
    """

    _admitted: tuple[str, bool] | None = None

    def connection_made(self, transport: Any) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if not first:
            return  # the TLS transport after STARTTLS: the same connection, already counted
        handler = self.event_handler
        host = peer_host(self.session.peer)
        trusted = handler.trusted(self.session.peer)
        if not handler.limits.admit(host, trusted):
            # Before the greeting: the client is told 421 and nothing else happens.
            self._handler_coroutine.cancel()
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            handler.refused_connection(host)
            return
        self._admitted = (host, trusted)
        self._reset_timeout()

    def connection_lost(self, error: Exception | None) -> None:
        if self._admitted is not None:
            self.event_handler.limits.release(*self._admitted)
            self._admitted = None
        super().connection_lost(error)

    def _reset_timeout(self, duration: float | None = None) -> None:
        # Before MAIL FROM, an untrusted client gets a short idle time: an idle connection costs
        # a file descriptor, and the ones that matter (the trusted MTA's) must find one free.
        if (duration is None and self._admitted is not None and not self._admitted[1]
                and not (self.envelope and self.envelope.mail_from)):
            duration = self.event_handler.listener.untrusted_idle_seconds
        super()._reset_timeout(duration)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if not check_path(arg, "FROM:"):
            await self.push(BAD_SENDER)
            return
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        if not check_path(arg, "TO:"):
            await self.push(BAD_RECIPIENT)
            return
        await super().smtp_RCPT(arg)

    async def smtp_AUTH(self, arg: str) -> None:
        pause = self.event_handler.throttle.delay(peer_host(self.session.peer))
        if pause:
            await asyncio.sleep(pause)
        await super().smtp_AUTH(arg)


def peer_host(peer: Any) -> str:
    """The client's address from a transport's peername."""
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
