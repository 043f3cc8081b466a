"""`mailbridge serve`: run the SMTP/LMTP listener, the processing and outbox workers until SIGTERM/SIGINT.

Start (the database is already open): refuse broken mail templates, bind the listener, start the
worker, which first picks up whatever a crash left pending, and the outbox worker, which sends
what processing queued (woken after each processing round) and retries what is due, and the
legal-deadline tick (`mailbridge.deadlines`), which queues warnings to agents. Stop: refuse new
mail with 421, let DATA already being stored finish, close the connections, let the worker
finish the message in hand, exit 0. Mail not yet answered 250 is the sending MTA's to retry;
mail answered 250 is in the database and is processed at the next start if it was not yet.
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

from mailbridge import deadlines, outbox_worker
from mailbridge.config import Config
from mailbridge.config.listener import ListenerSection
from mailbridge.errors import ConfigError, ListenError
from mailbridge.outbox_worker import OutboxWorker
from mailbridge.sources import imap
from mailbridge.sources.smtp import IntakeHandler, error_line, protocol_factory
from mailbridge.store.db import Database
from mailbridge.templates import check_templates
from mailbridge.worker import Worker

log = logging.getLogger(__name__)

# How long DATA already being written may take to reach the database once a stop is asked.
STOP_GRACE_SECONDS = 10.0
# How often the worker looks for pending mail it was not told about: rows another instance
# stored (several instances on PostgreSQL) or rows a failed attempt left behind.
POLL_SECONDS = 5.0
# Database calls run in threads; a small fixed pool keeps them within the connection pool
# (5 + 10 connections by default) however many SMTP clients are connected at once.
DATABASE_THREADS = 8
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run(config: Config, db: Database, *, log_level: str | None = None) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code. Raises MailbridgeError on a start failure."""
    configure_logging(log_level or config.listener.log_level)
    asyncio.run(serve(config, db))
    return 0


def configure_logging(level: str) -> None:
    """One line per event on stderr (journald adds its own timestamps, but a terminal does not)."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=True)
    # aiosmtpd logs every command line at INFO; our own lines say what happened to each message.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, logging.getLogger().level))


async def serve(config: Config, db: Database, *, stop: asyncio.Event | None = None,
                on_ready: Callable[[int], None] = lambda port: None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT); `on_ready(port)` is called once listening."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(DATABASE_THREADS, thread_name_prefix="db"))
    stop = stop or asyncio.Event()
    _check_templates(config)
    wake = asyncio.Event()
    # Set after each processing round, which may have queued acknowledgements and notices.
    send = asyncio.Event()
    handler = IntakeHandler(db=db, queues=config.queues, listener=config.listener,
                            on_stored=lambda raw_id: wake.set())
    connections: weakref.WeakSet = weakref.WeakSet()
    server = await _listen(handler, config.listener, connections)
    _on_signals(loop, stop)
    work = asyncio.create_task(_work(Worker(db=db, config=config), wake, stop, processed=send))
    sending = asyncio.create_task(outbox_worker.run(OutboxWorker(db=db, config=config), stop, send))
    # Legal-deadline warnings every [sla] tick_seconds; mail they queue wakes the outbox worker.
    warning = asyncio.create_task(deadlines.run(db=db, config=config, stop=stop, sent=send))
    # IMAP pollers are blocking threads; they wake the worker through the loop, like the listener.
    pollers = imap.start_pollers(config, db, on_stored=lambda raw_id: loop.call_soon_threadsafe(wake.set))
    port = server.sockets[0].getsockname()[1]
    log.info("listening for %s on %s:%d", config.listener.protocol.upper(), config.listener.host, port)
    on_ready(port)
    await stop.wait()
    log.info("stopping: new mail is refused with 421 from now on")
    await _stop_listener(server, handler, connections)
    await asyncio.to_thread(imap.stop_pollers, pollers)
    wake.set()
    await work
    await sending
    await warning
    log.info("stopped")


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


async def _work(worker: Worker, wake: asyncio.Event, stop: asyncio.Event,
                processed: asyncio.Event | None = None) -> None:
    """Drain pending mail whenever intake stores some, and every POLL_SECONDS in any case."""
    while not stop.is_set():
        wake.clear()
        try:
            await asyncio.to_thread(worker.drain, stop.is_set)
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: retry at the next poll
            log.error("processing paused: %s; retrying in %.0f s", error_line(exc), POLL_SECONDS)
        if processed is not None:
            processed.set()
        try:
            await asyncio.wait_for(wake.wait(), POLL_SECONDS)
        except TimeoutError:
            pass
