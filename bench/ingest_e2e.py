"""End-to-end SMTP ingest: the real `serve` against the naive limit, paced latency, and memory over a long run."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import serve_proc, smtp_load
from bench.smtp_load import Envelope, LoadResult, percentile

# How long to wait for processing to catch up after the last 250, per message sent.
DRAIN_SECONDS_PER_MESSAGE = 0.5


def latency_figures(result: LoadResult) -> dict:
    return {"p50_ms": percentile(result.latencies, 0.50) * 1000,
            "p99_ms": percentile(result.latencies, 0.99) * 1000,
            "max_ms": max(result.latencies, default=0.0) * 1000}


def measure_naive(corpus: Sequence[Envelope], clients: int, synchronous: str = "FULL") -> dict:
    """Messages per second of the naive server, first message sent to last 250 (it stores before 250)."""
    with tempfile.TemporaryDirectory(prefix="mb-bench-naive-") as directory:
        command = [sys.executable, "-m", "bench.naive_server", "--db", str(Path(directory) / "naive.sqlite3"),
                   "--synchronous", synchronous]
        process = subprocess.Popen(command, cwd=serve_proc.ROOT, stdout=subprocess.PIPE, text=True)
        try:
            port = int(process.stdout.readline().split()[1])
            before = serve_proc.cpu_times(process.pid)
            result = smtp_load.run_closed(port, corpus, clients)
            cpu = serve_proc.cpu_times(process.pid) - before
        finally:
            process.terminate()
            process.wait(30)
            process.stdout.close()
    return {"messages": result.sent, "refused": result.refused, "seconds": result.seconds,
            "messages_per_second": len(result.latencies) / result.seconds,
            "cpu_ms_per_message": _per_message_ms(cpu.serve, result),
            "client_cpu_ms_per_message": _per_message_ms(result.client_cpu_seconds, result), **latency_figures(result)}


def measure_serve(corpus: Sequence[Envelope], clients: int, workers: int | None = None,
                  root: Path = serve_proc.ROOT) -> dict:
    """Measurement 1 on a `serve` of its own (run from `root`), in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="mb-bench-serve-") as directory:
        with MailbridgeRun(Path(directory), workers=workers, root=root) as run:
            return run.throughput(corpus, clients)


class MailbridgeRun:
    """One `serve` (run from the tree at `root`) through measurement 1, the paced latency run and the long run."""

    def __init__(self, directory: Path, workers: int | None = None, root: Path = serve_proc.ROOT) -> None:
        serve_proc.write_config(directory, workers=workers)
        self.serve = serve_proc.ServeProcess(directory, root=root)
        self.watch = serve_proc.DatabaseWatch(serve_proc.database_path(directory))
        self.expected = 0

    def __enter__(self) -> MailbridgeRun:
        self.serve.start()
        return self

    def __exit__(self, *exc) -> None:
        code = self.serve.stop()
        if code != 0 and exc[0] is None:
            raise RuntimeError(f"serve exited {code}:\n{self.serve.log_tail()}")

    def throughput(self, corpus: Sequence[Envelope], clients: int) -> dict:
        """Measurement 1: first message sent → last ticket stored with its acknowledgement queued.

        CPU per message counts until the outbox has sent what these messages queued (after the
        time measured): sending is part of each message's cost even when it finishes later.
        """
        self.serve.wait_workers()
        cpu_before = serve_proc.cpu_times(self.serve.pid)
        with serve_proc.MemorySampler(self.serve.pid) as memory:
            result = smtp_load.run_closed(self.serve.port, corpus, clients)
            done = self._drain(result)
        seconds = done - result.started
        sent = self.watch.wait_sent(timeout=30 + DRAIN_SECONDS_PER_MESSAGE * result.sent, alive=self.serve.alive)
        cpu = serve_proc.cpu_times(self.serve.pid) - cpu_before
        return {"messages": result.sent, "refused": result.refused, "seconds": seconds,
                "accept_seconds": result.seconds, "messages_per_second": len(result.latencies) / seconds,
                "accepted_per_second": len(result.latencies) / result.seconds,
                **latency_figures(result), "peak_rss_mb": memory.peak_rss_kb / 1024,
                "peak_process_rss_mb": memory.peak_process_rss_kb / 1024,
                "peak_hwm_mb": memory.peak_hwm_kb / 1024,
                "listener_cpu_ms_per_message": _per_message_ms(cpu.serve, result),
                "worker_cpu_ms_per_message": _per_message_ms(cpu.workers, result),
                "sender_cpu_ms_per_message": _per_message_ms(cpu.sender, result),
                "client_cpu_ms_per_message": _per_message_ms(result.client_cpu_seconds, result),
                "worker_processes": len(cpu.worker_pids), "outbox_sent": sent, **self.watch.counts()}

    def paced(self, corpus: Sequence[Envelope], clients: int, rate: float) -> dict:
        """End-of-DATA → 250 latency with `rate` messages per second offered (open loop)."""
        result = smtp_load.run_paced(self.serve.port, corpus, clients, rate)
        done = self._drain(result)
        return {"offered_per_second": rate, "messages": result.sent, "refused": result.refused,
                "achieved_per_second": len(result.latencies) / result.seconds,
                "backlog_cleared_seconds_after_last": done - result.finished, **latency_figures(result)}

    def long_run(self, corpus: Sequence[Envelope], clients: int, seconds: float) -> dict:
        """Send the corpus again and again (fresh Message-IDs each round) for `seconds`; sample RSS."""
        rounds, started, by_round = 0, time.perf_counter(), []
        with serve_proc.MemorySampler(self.serve.pid, interval=0.5) as memory:
            while time.perf_counter() - started < seconds or rounds == 0:
                rounds += 1
                result = smtp_load.run_closed(self.serve.port, renamed(corpus, rounds), clients)
                self._drain(result)
                memory.sample()
                by_round.append(memory.samples[-1][1] / 1024 if memory.samples else 0.0)
        return {"seconds": time.perf_counter() - started, "rounds": rounds, "messages": rounds * len(corpus),
                "rss_after_first_round_mb": by_round[0], "rss_end_mb": by_round[-1], "rss_by_round_mb": by_round,
                "peak_rss_mb": memory.peak_rss_kb / 1024, "peak_hwm_mb": memory.peak_hwm_kb / 1024,
                "peak_process_rss_mb": memory.peak_process_rss_kb / 1024}

    def _drain(self, result: LoadResult) -> float:
        self.expected += len(result.latencies)
        done = self.watch.wait_finished(self.expected, timeout=30 + DRAIN_SECONDS_PER_MESSAGE * result.sent,
                                        alive=self.serve.alive)
        if done is None:
            raise RuntimeError(f"serve did not process {self.expected} messages:\n{self.serve.log_tail()}")
        return done


def _per_message_ms(cpu_seconds: float, result: LoadResult) -> float:
    return cpu_seconds / max(len(result.latencies), 1) * 1000


def renamed(corpus: Sequence[Envelope], round_number: int) -> list[Envelope]:
    """The corpus with every generated Message-ID made new (and replies still pointing at the same round).

    The generator's IDs all start `<SEED.`; rewriting that prefix everywhere keeps In-Reply-To and
    References consistent within a round while making each round's bytes and IDs unseen.
    """
    out = []
    for envelope in corpus:
        data = _ID_PREFIX_RE.sub(lambda m: m.group(1) + f"r{round_number}-".encode() + m.group(2), envelope.data)
        out.append(Envelope(envelope.mail_from, envelope.rcpt_to, data))
    return out


_ID_PREFIX_RE = re.compile(rb"(<)(\d+\.\d+\.[0-9a-f]{10}@)")
