"""SMTP clients for the benchmarks: N connections sending a corpus, timing end-of-DATA → 250 for each message."""

from __future__ import annotations

import math
import re
import smtplib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench import mailgen

_RETURN_PATH_RE = re.compile(rb"^Return-Path: <([^<>\r\n]*)>", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message to send: the envelope sender and recipient, and the bytes as on the wire."""

    mail_from: str
    rcpt_to: str
    data: bytes


@dataclass
class LoadResult:
    """What the clients saw: when the first message went out, when the last 250 came back, latencies."""

    started: float = 0.0
    finished: float = 0.0
    latencies: list[float] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    # CPU time of the client threads (`time.thread_time`): the clients share the server's cores.
    client_cpu_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def envelopes(mails: Sequence[mailgen.GeneratedMail]) -> list[Envelope]:
    """Envelopes for generated mail: Return-Path as MAIL FROM (empty for bounces), To as RCPT TO."""
    out = []
    for mail in mails:
        match = _RETURN_PATH_RE.search(mail.raw)
        sender = match.group(1).decode("ascii", "replace") if match else ""
        out.append(Envelope(sender, mail.recipient, _wire(mail.raw)))
    return out


def _wire(raw: bytes) -> bytes:
    """The DATA payload: dot-stuffed, CRLF-terminated, with the final "." line."""
    body = re.sub(rb"(?m)^\.", b"..", raw)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def send_one(client: smtplib.SMTP, envelope: Envelope) -> tuple[int, float]:
    """MAIL, RCPT, DATA; returns the final reply code and seconds from end-of-DATA to that reply."""
    code, reply = client.mail(envelope.mail_from)
    if code != 250:
        client.rset()
        return code, 0.0
    code, reply = client.rcpt(envelope.rcpt_to)
    if code not in (250, 251):
        client.rset()
        return code, 0.0
    client.putcmd("data")
    code, reply = client.getreply()
    if code != 354:
        return code, 0.0
    client.sock.sendall(envelope.data)
    sent_at = time.perf_counter()
    code, reply = client.getreply()
    return code, time.perf_counter() - sent_at


def run_closed(port: int, corpus: Sequence[Envelope], clients: int) -> LoadResult:
    """`clients` connections sending as fast as replies come back, until the corpus is sent once."""
    queue = iter(enumerate(corpus))
    lock = threading.Lock()

    def next_message() -> Envelope | None:
        with lock:
            item = next(queue, None)
        return item[1] if item else None

    return _run(port, clients, next_message)


def run_paced(port: int, corpus: Sequence[Envelope], clients: int, rate: float) -> LoadResult:
    """Open loop: message i is due at start + i / rate, taken by whichever connection is free."""
    lock = threading.Lock()
    state = {"index": 0, "start": 0.0}

    def next_message() -> Envelope | None:
        with lock:
            index = state["index"]
            if index >= len(corpus):
                return None
            state["index"] += 1
            if not state["start"]:
                state["start"] = time.perf_counter()
            due = state["start"] + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        return corpus[index]

    return _run(port, clients, next_message)


def _run(port: int, clients: int, next_message) -> LoadResult:
    result = LoadResult()
    lock = threading.Lock()
    connections = [smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.org", timeout=120)
                   for _ in range(clients)]
    for connection in connections:
        connection.ehlo()

    def work(connection: smtplib.SMTP) -> None:
        cpu_started = time.thread_time()
        try:
            _send_all(connection)
        finally:
            with lock:
                result.client_cpu_seconds += time.thread_time() - cpu_started

    def _send_all(connection: smtplib.SMTP) -> None:
        while (envelope := next_message()) is not None:
            with lock:
                if not result.started:
                    result.started = time.perf_counter()
            code, latency = send_one(connection, envelope)
            with lock:
                result.sent += 1
                if code == 250:
                    result.latencies.append(latency)
                else:
                    result.refused[str(code)] = result.refused.get(str(code), 0) + 1
                result.finished = time.perf_counter()

    threads = [threading.Thread(target=work, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for connection in connections:
        try:
            connection.quit()
        except smtplib.SMTPException:
            connection.close()
    return result


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of the values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]
