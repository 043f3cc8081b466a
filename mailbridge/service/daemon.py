"""`mailbridge serve`: run the SMTP/LMTP listener, the processing workers and the sender until SIGTERM/SIGINT.

It speaks systemd's notify protocol (READY, STATUS, RELOADING, STOPPING, WATCHDOG: see
`sdnotify`), writes its heartbeat for `mailbridge status` (`instance`), serves Prometheus
metrics when configured (`metrics`) and reloads its config on SIGHUP (`reload`).

Start (the database is already open): refuse broken mail templates, bind the listener, start the
processing workers in processes of their own (`mailbridge.service.workers`: `[processing] workers`
of them; accepting and processing then use cores of their own), which first pick up whatever a
crash left pending; the sender, a process of its own too (`mailbridge.service.sender_process`),
which sends what processing and the ticks queued (woken on each worker's pulse and each tick that
queued mail) and retries what is due; the legal-deadline tick
(`mailbridge.service.deadlines`), which queues warnings to agents; the agents' tick
(`mailbridge.service.agent_ticks`: resolved tickets closed, phone tickets reminded of); and the
escalation loop (`mailbridge.service.escalations`), which runs due ladder steps and sends their
SMS; with `[sms.inbound]` also the webhook where agents' SMS answers stop a ladder
(`service.sms_webhook`). Stop: refuse new mail with 421, let
DATA already being stored finish, close the connections, let the workers finish the message in
hand and then the sender the mail in hand, exit 0. Mail not yet answered 250 is the sending
MTA's to retry; mail answered 250 is in the spool or the database and is processed at the next start if it was not yet.
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

from mailbridge.escalation.sms_text import check_sms_templates
from mailbridge.service import agent_ticks, deadlines, escalations, sms_webhook
from mailbridge.config import Config
from mailbridge.config.listener import ListenerSection
from mailbridge.errors import ConfigError, ListenError
from mailbridge.logs import configure_logging, redact
from mailbridge.sources import imap
from mailbridge.sources.smtp import IntakeHandler, protocol_factory
from mailbridge.intake.spool import Spool
from mailbridge.store.db import Database
from mailbridge.outgoing.templates import check_templates
from mailbridge.service.instance import Instance
from mailbridge.service.metrics import Metrics
from mailbridge.service.reload import try_reload
from mailbridge.service.sender_process import SenderProcess
from mailbridge.service.sdnotify import Notifier
from mailbridge.service.child_process import POLL_SECONDS
from mailbridge.service.workers import Workers

log = logging.getLogger(__name__)

# How long DATA already being written may take to reach the spool once a stop is asked.
STOP_GRACE_SECONDS = 10.0
# Spool writes and database calls (IMAP intake, deadline ticks) run in threads; a small fixed
# pool keeps them within the connection pool (5 + 10 connections by default) and the disk's
# patience however many SMTP clients are connected at once.
DATABASE_THREADS = 8


def run(config: Config, db: Database, *, log_level: str | None = None, log_format: str | None = None) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code. Raises MailbridgeError on a start failure."""
    chosen = configure_logging(log_level or config.listener.log_level, log_format)
    redact(*config.secrets())
    asyncio.run(serve(config, db, log_format=chosen))
    return 0


async def serve(config: Config, db: Database, *, stop: asyncio.Event | None = None,
                reload: asyncio.Event | None = None, notifier: Notifier | None = None,
                log_format: str = "text", on_ready: Callable[[int], None] = lambda port: None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT); `on_ready(port)` is called once listening.

    Setting `reload` (or SIGHUP) reloads the config (see `mailbridge.service.reload`). systemd
    is told READY=1 once the listener, the worker and the pollers are up, WATCHDOG=1 while the
    worker is alive, and STOPPING=1 when the stop begins.
    """
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(DATABASE_THREADS, thread_name_prefix="db"))
    stop, reload = stop or asyncio.Event(), reload or asyncio.Event()
    notifier = notifier or Notifier()
    _check_templates(config)
    parts: dict = {}
    metrics = Metrics(snapshot=lambda: parts["instance"].snapshot if "instance" in parts else {})
    options = {"log_format": log_format, "pulse_seconds": _pulse_seconds(notifier),
               "log_level": logging.getLevelName(logging.getLogger().getEffectiveLevel())}
    sender = SenderProcess(config, db.url, **options)
    # Each worker pulse follows a committed group or a round: what it queued is the sender's now.
    worker = Workers(config, db.url, db.dialect, on_outcome=metrics.on_processed, on_progress=sender.wake, **options)
    spool = _open_spool(config)
    handler = IntakeHandler(spool=spool, queues=config.queues, listener=config.listener,
                            on_stored=lambda name: _received(metrics, worker, "smtp"))
    connections: weakref.WeakSet = weakref.WeakSet()
    server = await _listen(handler, config.listener, connections)
    try:
        metrics_address = metrics.serve(config.metrics)
        # Agents' SMS answers ("OK DYN-000123"), when [sms.inbound] listen is set.
        webhook = await sms_webhook.start(db=db, config=config)
    except ListenError:
        server.close()
        metrics.close()
        raise
    _on_signals(loop, stop, reload)
    await sender.start()
    await worker.start()
    # IMAP pollers are blocking threads; they wake the worker through the loop, like the listener.
    pollers = imap.start_pollers(config, db, on_stored=lambda raw_id: loop.call_soon_threadsafe(
        _received, metrics, worker, "imap"))
    port = server.sockets[0].getsockname()[1]
    listener = {"protocol": config.listener.protocol, "address": f"{config.listener.host}:{port}", "state": "listening"}
    instance = parts["instance"] = Instance(db=db, spool=spool, worker=worker, sender=sender, pollers=pollers,
                                            listener=listener)
    instance.metrics = f"{metrics_address[0]}:{metrics_address[1]}" if metrics_address else None
    tasks = _background(config, db, stop=stop, reload=reload, handler=handler, worker=worker, sender=sender,
                        instance=instance, notifier=notifier)
    log.info("listening for %s on %s:%d", config.listener.protocol.upper(), config.listener.host, port)
    on_ready(port)
    notifier.ready(_status_line(config, port, pollers))
    await stop.wait()
    notifier.stopping()
    log.info("stopping: new mail is refused with 421 from now on")
    await _stop_listener(server, handler, connections)
    instance.listener["state"] = "stopped"
    await asyncio.to_thread(imap.stop_pollers, pollers)
    await worker.stop()
    await sender.stop()
    reload.set()  # wakes the reload task, which sees `stop` and ends
    await asyncio.gather(*tasks)
    if webhook is not None:
        webhook.close()
        await webhook.wait_closed()
    await instance.stopped()
    metrics.close()
    notifier.close()
    log.info("stopped")


def _background(config: Config, db: Database, *, stop: asyncio.Event, reload: asyncio.Event,
                handler: IntakeHandler, worker: Workers, sender: SenderProcess, instance: Instance,
                notifier: Notifier) -> list[asyncio.Task]:
    """The daemon's loops: deadline, agents' and escalation ticks, the heartbeat, the watchdog and reloads; each ends with `stop`."""
    current = [config]  # replaced by a reload; the deadline tick reads it at each round
    return [
        # Legal-deadline warnings every [sla] tick_seconds; the mail they queue is sent by the sender process.
        asyncio.create_task(deadlines.run(db=db, config=lambda: current[0], stop=stop, on_queued=sender.wake,
                                          on_tick=lambda at: setattr(instance, "last_tick_at", at))),
        # Resolved tickets closed and phone tickets reminded of, every [agent_mail] tick_seconds.
        asyncio.create_task(agent_ticks.run(db=db, config=lambda: current[0], stop=stop, on_queued=sender.wake)),
        # Escalation ladders: due steps every [escalation] tick_seconds (or at the next due look), then their SMS.
        asyncio.create_task(escalations.run(db=db, config=lambda: current[0], stop=stop, on_queued=sender.wake)),
        asyncio.create_task(instance.run(stop)),
        asyncio.create_task(_watchdog(notifier, lambda: worker.alive and sender.alive, stop)),
        asyncio.create_task(_reloads(reload, stop, current, handler, worker, sender, instance, notifier)),
    ]


def _received(metrics: Metrics, worker: Workers, source: str) -> None:
    metrics.on_received(source)
    worker.wake()


def _pulse_seconds(notifier: Notifier) -> float:
    """How often the workers and the sender must pulse: often enough that a hung one misses the watchdog in time."""
    if notifier.watchdog_seconds is None:
        return POLL_SECONDS
    return max(0.1, min(POLL_SECONDS, notifier.watchdog_seconds / 4))


async def _watchdog(notifier: Notifier, alive: Callable[[], bool], stop: asyncio.Event) -> None:
    """WATCHDOG=1 every half watchdog period, from this loop (so a hung loop stops it too), while every child is `alive`."""
    if notifier.watchdog_seconds is None:
        return
    silent = False
    while not stop.is_set():
        if alive():
            notifier.watchdog()
            if silent:
                log.info("the processing workers and the sender answer again: watchdog pings resumed")
            silent = False
        elif not silent:
            silent = True
            log.error("a processing worker or the sender does not answer: watchdog pings withheld, "
                      "systemd will restart "
                      "mailbridge if it stays so for %.0f s", notifier.watchdog_seconds)
        try:
            await asyncio.wait_for(stop.wait(), notifier.watchdog_seconds / 2)
        except TimeoutError:
            pass


async def _reloads(reload: asyncio.Event, stop: asyncio.Event, current: list[Config], handler: IntakeHandler,
                   worker: Workers, sender: SenderProcess, instance: Instance, notifier: Notifier) -> None:
    """On each SIGHUP (or `reload`), apply a config that loads; keep the old one otherwise."""
    while True:
        await reload.wait()
        reload.clear()
        if stop.is_set():
            return
        notifier.reloading()
        new = await asyncio.to_thread(try_reload, current[0])
        if new is not None:
            current[0] = new
            handler.queues = tuple(new.queues)
            await worker.replace(new)
            sender.replace(new)
            instance.reloaded_at = instance.clock()
            log.info("config reloaded from %s: %d queue(s)", new.source, len(new.queues))
        notifier.ready("running" if new is not None else "running (config reload refused, see the log)")


def _status_line(config: Config, port: int, pollers: list) -> str:
    accounts = f", {len(pollers)} IMAP account(s)" if pollers else ""
    return f"listening for {config.listener.protocol.upper()} on {config.listener.host}:{port}{accounts}"


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
    problems = check_templates(config) + check_sms_templates(config)
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


def _on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event, reload: asyncio.Event) -> None:
    for signum, event in ((signal.SIGTERM, stop), (signal.SIGINT, stop), (signal.SIGHUP, reload)):
        try:
            loop.add_signal_handler(signum, event.set)
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
