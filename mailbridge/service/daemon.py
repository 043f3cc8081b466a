"""`mailbridge serve`: run the SMTP/LMTP listener, the processing and outbox workers until SIGTERM/SIGINT.

Start (the database is already open): refuse broken mail templates, bind the listener, start the
processing worker in its own process (`mailbridge.service.worker_process`: accepting and processing then
use a core each), which first picks up whatever a crash left pending, and whose outbox thread
sends what processing queued and retries what is due; and the legal-deadline tick
(`mailbridge.service.deadlines`), which queues warnings to agents. Stop: refuse new mail with 421, let
DATA already being stored finish, close the connections, let the worker finish the message in
hand, exit 0. Mail not yet answered 250 is the sending MTA's to retry; mail answered 250 is in
the spool or the database and is processed at the next start if it was not yet.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.smtp import SMTP

from mailbridge.service import deadlines
from mailbridge.config import Config
from mailbridge.config.listener import ListenerSection
from mailbridge.errors import ConfigError, ListenError
from mailbridge.logs import configure_logging
from mailbridge.sources import imap
from mailbridge.sources.smtp import IntakeHandler, protocol_factory
from mailbridge.intake.spool import Spool
from mailbridge.store.db import Database
from mailbridge.outgoing.templates import check_templates
from mailbridge.service.worker_process import WorkerProcess

log = logging.getLogger(__name__)

# How long DATA already being written may take to reach the spool once a stop is asked.
STOP_GRACE_SECONDS = 10.0
# Spool writes and database calls (IMAP intake, deadline ticks) run in threads; a small fixed
# pool keeps them within the connection pool (5 + 10 connections by default) and the disk's
# patience however many SMTP clients are connected at once.
DATABASE_THREADS = 8


def run(config: Config, db: Database, *, log_level: str | None = None) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code. Raises MailbridgeError on a start failure."""
    configure_logging(log_level or config.listener.log_level)
    asyncio.run(serve(config, db))
    return 0


async def serve(config: Config, db: Database, *, stop: asyncio.Event | None = None,
                on_ready: Callable[[int], None] = lambda port: None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT); `on_ready(port)` is called once listening."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(DATABASE_THREADS, thread_name_prefix="db"))
    stop = stop or asyncio.Event()
    _check_templates(config)
    worker = WorkerProcess(config, db.url,
                           log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()))
    handler = IntakeHandler(spool=_open_spool(config), queues=config.queues, listener=config.listener,
                            on_stored=lambda name: worker.wake())
    connections: weakref.WeakSet = weakref.WeakSet()
    server = await _listen(handler, config.listener, connections)
    _on_signals(loop, stop)
    await worker.start()
    # Legal-deadline warnings every [sla] tick_seconds; the mail they queue is sent by the worker process.
    warning = asyncio.create_task(deadlines.run(db=db, config=config, stop=stop, on_queued=worker.wake))
    # IMAP pollers are blocking threads; they wake the worker through the loop, like the listener.
    pollers = imap.start_pollers(config, db, on_stored=lambda raw_id: loop.call_soon_threadsafe(worker.wake))
    port = server.sockets[0].getsockname()[1]
    log.info("listening for %s on %s:%d", config.listener.protocol.upper(), config.listener.host, port)
    on_ready(port)
    await stop.wait()
    log.info("stopping: new mail is refused with 421 from now on")
    await _stop_listener(server, handler, connections)
    await asyncio.to_thread(imap.stop_pollers, pollers)
    await worker.stop()
    await warning
    log.info("stopped")


def _open_spool(config: Config) -> Spool:
    """The listener's spool, without the half-written files of a crash (their senders retry them)."""
    try:
        spool = Spool(config.spool_dir).create()
        cleared = spool.clear_unfinished()
    except OSError as exc:
        raise ListenError(f"cannot use the spool folder {config.spool_dir}: {exc.strerror or exc}; "
                          "it must be a folder the service user can write (it lives in state_dir)") from None
    if cleared:
        log.info("removed %d half-written spool file(s) never answered 250", cleared)
    return spool


def _check_templates(config: Config) -> None:
    """Refuse to start with a mail template that would fail on the first customer mail."""
    problems = check_templates(config)
    if problems:
        raise ConfigError(problems)


async def _listen(handler: IntakeHandler, listener: ListenerSection,
                  connections: weakref.WeakSet) -> asyncio.Server:
    hostname = listener.hostname or socket.getfqdn()
    make_protocol = protocol_factory(handler, listener, hostname)

    def tracked() -> SMTP:
        protocol = make_protocol()
        connections.add(protocol)
        return protocol

    try:
        return await asyncio.get_running_loop().create_server(tracked, listener.host, listener.port)
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise ListenError(f"cannot listen on {listener.host}:{listener.port}: {reason}") from None


def _on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            # Not the main thread (tests run the daemon in a thread and stop it with `stop`).
            return


async def _stop_listener(server: asyncio.Server, handler: IntakeHandler,
                         connections: weakref.WeakSet) -> None:
    server.close()
    handler.stopping = True
    deadline = asyncio.get_running_loop().time() + STOP_GRACE_SECONDS
    while handler.in_flight and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    if handler.in_flight:
        # The commit may still land; the MTA, without its 250, resends and intake sees the same
        # bytes again, so at worst this is stored once, never half.
        log.warning("%d message(s) still being stored at stop; their senders will retry",
                    handler.in_flight)
    for protocol in list(connections):
        if protocol.transport is not None:
            protocol.transport.close()
    await server.wait_closed()
