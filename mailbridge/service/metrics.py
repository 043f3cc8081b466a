"""Prometheus metrics of `serve` at /metrics on `[metrics] listen` (off when it is empty).

Counters and the processing histogram are fed as events happen: mail received by the listener
and the IMAP pollers (this process), messages processed by the workers (their child processes
report each one over their pipes). Gauges are read at scrape time from the daemon's last
heartbeat snapshot (spool backlog, workers, sender, IMAP accounts, the database backlog), so a scrape
never waits for the database. prometheus_client does the exposition format and the HTTP server.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable, Iterator
from importlib.metadata import version

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from mailbridge.config.ops import MetricsSection
from mailbridge.errors import ListenError

log = logging.getLogger(__name__)

# From 5 ms (a reply threaded at once) to 30 s (a huge message with many attachments).
PROCESSING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The registry of one `serve`, and the calls that feed it."""

    def __init__(self, snapshot: Callable[[], dict]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter("mailbridge_messages_received", "Messages accepted durably, by source",
                                ["source"], registry=self.registry)
        self.processed = Counter("mailbridge_messages_processed", "Messages processed, by source and outcome "
                                 "(created, threaded, duplicate, dropped, quarantined)",
                                 ["source", "outcome"], registry=self.registry)
        self.seconds = Histogram("mailbridge_processing_seconds", "Time to process one message, by source",
                                 ["source"], buckets=PROCESSING_BUCKETS, registry=self.registry)
        self.registry.register(_StateCollector(snapshot))
        self._server = None
        # The listener counts every message: the labelled child is looked up once per source, not each time.
        self._received_by_source: dict[str, Counter] = {}

    def on_received(self, source: str) -> None:
        counter = self._received_by_source.get(source)
        if counter is None:
            counter = self._received_by_source[source] = self.received.labels(source)
        counter.inc()

    def on_processed(self, outcome: str, source: str, seconds: float) -> None:
        self.processed.labels(source, outcome).inc()
        self.seconds.labels(source).observe(seconds)

    def serve(self, section: MetricsSection) -> tuple[str, int] | None:
        """Start the HTTP endpoint if configured; the (host, port) it listens on."""
        if section.address is None:
            return None
        host, port = section.address
        try:
            self._server, _thread = start_http_server(port, host, registry=self.registry)
        except OSError as exc:
            raise ListenError(f"cannot serve metrics on {section.listen}: {exc.strerror or exc}") from None
        bound = self._server.server_address[:2]
        log.info("metrics at http://%s:%d/metrics", host, bound[1])
        return host, bound[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _StateCollector(Collector):
    """Gauges from the daemon's latest snapshot, computed when Prometheus asks."""

    def __init__(self, snapshot: Callable[[], dict]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list:
        return []  # computed at each scrape; nothing to check at registration

    def collect(self) -> Iterator:
        state = self._snapshot()
        info = InfoMetricFamily("mailbridge_build", "Version of mailbridge and Python")
        info.add_metric([], {"version": version("mailbridge"), "python": platform.python_version()})
        yield info
        yield _gauge("mailbridge_up_since_seconds", "When this instance started (Unix time)",
                     state.get("started_at_unix", 0))
        yield _gauge("mailbridge_spool_backlog", "Messages in the listener's spool not yet in the database",
                     state.get("spool_backlog", 0))
        worker = state.get("worker", {})
        yield _gauge("mailbridge_worker_up", "1 while every processing worker runs and answers",
                     int(worker.get("alive", False)))
        yield _gauge("mailbridge_worker_restarts", "Times a processing worker died and was restarted",
                     worker.get("restarts", 0))
        sender = state.get("sender", {})
        yield _gauge("mailbridge_sender_up", "1 while the sender process (outgoing mail) runs and answers",
                     int(sender.get("alive", False)))
        yield _gauge("mailbridge_sender_restarts", "Times the sender process died and was restarted",
                     sender.get("restarts", 0))
        yield _gauge("mailbridge_worker_processes", "Processing worker processes (each storing mail)",
                     worker.get("processes", 0))
        yield _gauge("mailbridge_parser_processes", "Parser processes of each worker (SQLite, workers > 1)",
                     worker.get("parsers", 0))
        imap = GaugeMetricFamily("mailbridge_imap_connected", "1 while an IMAP account is logged in and watched",
                                 labels=["account"])
        for account in state.get("imap", []):
            imap.add_metric([account["account"]], int(account["state"] == "watching"))
        yield imap
        yield from _backlog_gauges(state.get("backlog") or {})


def _backlog_gauges(counts: dict) -> Iterator:
    yield _gauge("mailbridge_pending_messages", "Messages stored and waiting for processing",
                 counts.get("pending_messages", 0))
    yield _gauge("mailbridge_quarantined_messages", "Messages held in quarantine",
                 counts.get("quarantined_messages", 0))
    yield _gauge("mailbridge_overdue_tickets", "Tickets with an SLA clock past due", counts.get("overdue_tickets", 0))
    outbox = GaugeMetricFamily("mailbridge_outbox_messages", "Outgoing mail by state (queued, held, failed, "
                               "bounced, sent)", labels=["state"])
    for state, count in (counts.get("outbox") or {}).items():
        outbox.add_metric([state], count)
    yield outbox
    escalation = counts.get("escalation") or {}
    yield _gauge("mailbridge_escalation_behind_tickets", "Tickets whose escalation step is due for over 10 minutes",
                 escalation.get("behind_tickets", 0))
    yield _gauge("mailbridge_escalation_failed_steps", "Escalation steps that failed", escalation.get("failed_steps", 0))
    sms = GaugeMetricFamily("mailbridge_sms_messages", "SMS of escalation steps by state (queued, sent, failed)",
                            labels=["state"])
    for state, count in (counts.get("sms") or {}).items():
        sms.add_metric([state], count)
    yield sms


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
