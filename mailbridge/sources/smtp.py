"""SMTP/LMTP intake: refuse at RCPT what we do not serve, answer 250 only once the raw mail is durable in the spool.

The hooks follow aiosmtpd's handler interface: each is named after the SMTP verb and returns the
reply line, so every refusal is a status code a sending MTA understands, never an exception.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from mailbridge.config import QueueConfig
from mailbridge.config.listener import ListenerSection
from mailbridge.errors import error_line
from mailbridge.route import queue_for_address
from mailbridge.logs import mask_tokens
from mailbridge.sources.smtp_address import QuickAddress
from mailbridge.sources.smtp_data import BlockData
from mailbridge.sources.smtp_guard import AuthThrottle, ConnectionLimits, Guarded
from mailbridge.intake.spool import Spool
from mailbridge.store.types import utcnow

log = logging.getLogger(__name__)

TEMPORARY_FAILURE = "451 4.3.0 Message not stored, please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, please try again later"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
AUTH_REQUIRED = "530 5.7.0 Authentication required"
MALFORMED_ADDRESS = "553 5.1.3 Malformed address"
# aiosmtpd takes almost any text between the brackets; a mailbox is one word, an @ and a domain.
_MAILBOX = re.compile(r"[^\s<>()\[\]\\,;:@\"]+@[^\s<>()\[\]\\,;:@\"]+")


class IntakeHandler:
    """The aiosmtpd handler: sender policy at MAIL, queue addresses at RCPT, durable intake at DATA.

    `on_stored(name)` is called for each message written to the spool, so the worker can start
    on it at once instead of waiting for its next poll.
    """

    def __init__(self, *, spool: Spool, queues: Sequence[QueueConfig], listener: ListenerSection,
                 on_stored: Callable[[str], None] = lambda name: None) -> None:
        self.spool = spool
        self.queues = tuple(queues)
        self.listener = listener
        self.on_stored = on_stored
        # Set by the daemon when it stops: new transactions get 421 so the MTA retries elsewhere
        # or later, while DATA already being stored (counted in `in_flight`) may finish.
        self.stopping = False
        self.in_flight = 0
        self.limits = ConnectionLimits(listener.max_connections, listener.max_connections_per_client)
        self.throttle = AuthThrottle()
        self._refusals_logged: set[str] = set()

    def trusted(self, peer: Any) -> bool:
        return peer_trusted(peer, self.listener.trusted_networks)

    def refused_connection(self, host: str) -> None:
        """Log a refused connection once per address until the limits let it in again."""
        if host not in self._refusals_logged:
            self._refusals_logged.add(host)
            log.warning("refused connections from %s: too many open (%d from it, %d in all)",
                        host, self.limits.open.get(host, 0), sum(self.limits.open.values()))

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if self.stopping:
            return SHUTTING_DOWN
        if not _well_formed(address, null_ok=True):
            return MALFORMED_ADDRESS
        refusal = self._sender_refusal(session)
        if refusal:
            log.warning("refused MAIL FROM %s from %s: %s", mask_tokens(address), _peer_host(session), refusal)
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    def _sender_refusal(self, session: Session) -> str | None:
        # A trusted network (the local MTA) needs nothing more; anyone else must have logged in,
        # and where no users are configured there is no way in at all: never an open relay.
        if session.authenticated or peer_trusted(session.peer, self.listener.trusted_networks):
            return None
        if self.listener.users:
            return AUTH_REQUIRED
        return f"554 5.7.1 Access denied: {_peer_host(session)} is not a trusted network"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.listener.max_recipients:
            return TOO_MANY_RECIPIENTS
        if not _well_formed(address, null_ok=False):
            return MALFORMED_ADDRESS
        if queue_for_address(address, self.queues) is None:
            log.info("refused RCPT TO %s from %s: not a queue address", mask_tokens(address), _peer_host(session))
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def open_data(self, envelope: Envelope):
        """A spool file the DATA is written into as it arrives (None: kept in memory, stored at the end)."""
        try:
            # received_at is when DATA began: the message is written from that moment on.
            return self.spool.open(source="smtp", received_at=utcnow(), envelope_from=_reverse_path(envelope.mail_from),
                                   envelope_rcpts=tuple(envelope.rcpt_tos))
        except OSError as exc:
            log.error("cannot open a spool file (%s); this message is read into memory", error_line(exc))
            return None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        writer = getattr(envelope, "spool_writer", None)
        raw = envelope.original_content or b""
        size = writer.size if writer is not None else len(raw)
        sender = _reverse_path(envelope.mail_from)
        self.in_flight += 1
        try:
            # Syncing blocks, so it runs in a thread; the 250 is sent only after it returns,
            # i.e. once the file is on disk. (run_in_executor: the commit needs no copy of the context.)
            if writer is not None:
                name = await asyncio.get_running_loop().run_in_executor(None, writer.commit)
            else:
                name = await asyncio.to_thread(
                    self.spool.put, raw, source="smtp", received_at=utcnow(),
                    envelope_from=sender, envelope_rcpts=tuple(envelope.rcpt_tos))
        except Exception as exc:  # noqa: BLE001 - any failure to store must become a 451
            log.error("not stored (from=<%s> to=%s, %d bytes): %s; answered 451",
                      mask_tokens(sender), mask_tokens(",".join(envelope.rcpt_tos)), size, error_line(exc))
            return TEMPORARY_FAILURE
        finally:
            self.in_flight -= 1
        # Sub-addresses carry reply tokens, which are credentials: logged masked.
        log.info("received %s from=<%s> to=%s, %d bytes", name, mask_tokens(sender),
                 mask_tokens(",".join(envelope.rcpt_tos)), size)
        self._refusals_logged.discard(_peer_host(session))
        self.on_stored(name)
        return f"250 2.0.0 OK queued as {name}"


class BlockSMTP(Guarded, QuickAddress, BlockData, SMTP):
    """aiosmtpd's SMTP with DATA read in blocks (`smtp_data`), plain addresses read quickly (`smtp_address`) and the defences of `smtp_guard`."""


class PerRecipientLMTP(Guarded, QuickAddress, BlockData, LMTP):
    """LMTP whose final DATA reply, refusals included, is repeated once per accepted recipient.

    RFC 2033 section 4.2 wants one reply per recipient after the final dot. Our fate is the same
    for every recipient (one durable copy), so the handler returns one reply and this class
    repeats it; doing it here also covers aiosmtpd's own 552 and "line too long" refusals.
    """

    _replies_due = 0

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and self._replies_due:
            count, self._replies_due = self._replies_due, 0
            status = "\r\n".join([status] * count)
        elif isinstance(status, str) and status.startswith("354"):
            self._replies_due = len(self.envelope.rcpt_tos)
        await super().push(status)


def protocol_factory(handler: IntakeHandler, listener: ListenerSection, hostname: str) -> Callable[[], SMTP]:
    """A factory for `loop.create_server`: one SMTP or LMTP protocol object per connection."""
    protocol = PerRecipientLMTP if listener.protocol == "lmtp" else BlockSMTP
    tls = tls_context(listener.tls_cert, listener.tls_key) if listener.tls_cert else None
    users = dict(listener.users)
    options = dict(
        data_size_limit=listener.max_message_size,
        enable_SMTPUTF8=True,
        hostname=hostname,
        ident="mailbridge",
        tls_context=tls,
        require_starttls=bool(tls and listener.require_tls),
        auth_require_tls=listener.auth_require_tls,
        authenticator=authenticator(users, handler.throttle),
        # The idle time of a trusted client, or of any client once it has given MAIL FROM.
        timeout=listener.idle_seconds,
        # Without users, AUTH would be advertised only to fail every time: hide it instead.
        auth_exclude_mechanism=() if users else ("LOGIN", "PLAIN"),
    )
    return lambda: protocol(handler, loop=asyncio.get_running_loop(), **options)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side TLS context for STARTTLS from PEM certificate and key files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def authenticator(users: Mapping[str, str], throttle: AuthThrottle | None = None) -> Callable[..., AuthResult]:
    """An aiosmtpd authenticator checking PLAIN/LOGIN credentials against `users` (name → password).

    Failures are counted per client address in `throttle`, which slows its next answers down
    and logs once per burst rather than once per attempt.
    """
    throttle = throttle or AuthThrottle()

    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        expected = users.get(login)
        # Compare in constant time so the reply time does not leak how much of a password matched.
        ok = expected is not None and hmac.compare_digest(expected.encode(), auth_data.password)
        if ok:
            throttle.succeeded(_peer_host(session))
        else:
            throttle.failed(_peer_host(session), login, mechanism)
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    return authenticate


def peer_trusted(peer: Any, networks: Sequence[Any]) -> bool:
    """Whether the connecting address lies in one of the trusted networks."""
    try:
        address = ipaddress.ip_address(_peer_host_of(peer))
    except ValueError:
        return False
    # An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _well_formed(address: str, *, null_ok: bool) -> bool:
    return (null_ok and address in ("", "<>")) or _MAILBOX.fullmatch(address) is not None


def _reverse_path(mail_from: str | None) -> str:
    # aiosmtpd hands the null reverse-path of bounces over as "<>"; store it as empty.
    return "" if mail_from in (None, "<>") else mail_from


def _peer_host_of(peer: Any) -> str:
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


def _peer_host(session: Session) -> str:
    return _peer_host_of(session.peer)
