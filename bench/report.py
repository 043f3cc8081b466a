"""The benchmark table: every measurement of one run beside its aim, as Markdown that reads in a terminal too."""

from __future__ import annotations

# The aims. Memory counts as flat when RSS at the end of the long run is within this
# share of RSS halfway through it: the first rounds fill caches that are bounded (a page cache
# per pooled SQLite connection, compiled statements, allocator arenas), a leak keeps growing.
RATIO_AIM = 1.0
P99_AIM_MS = 25.0
IMAP_AIM = 0.8
SCALE_AIM = 1.1
RSS_AIM_MB = 200.0
FLAT_SHARE = 0.05
STARTUP_AIM_S = 0.25


def table(results: dict) -> str:
    rows = [("measurement", "figure", "aim", "met")]
    rows += _smtp_rows(results)
    rows += _imap_rows(results.get("imap", {}))
    rows += _scale_rows(results.get("scale", {}))
    rows += _memory_rows(results)
    rows += _startup_rows(results.get("startup", {}))
    rows += _curve_rows(results.get("workers_curve", {}))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join([_heading(results), "", *lines])


def _heading(results: dict) -> str:
    box, plan, corpus = results["machine"], results["plan"], results["corpus"]
    mode = " (--quick: sizes too small for the figures to mean anything)" if results.get("quick") else ""
    return (f"machine: {box['processor']}, {box['cpu_count']} cores, {box['python']}, {box['platform']}\n"
            f"corpus:  {corpus['messages']} generated messages (seed {plan['seed']}), "
            f"{corpus['bytes'] / 1e6:.1f} MB, {plan['clients']} SMTP connections; "
            f"run took {results.get('seconds', 0):.0f} s{mode}")


def _smtp_rows(results: dict) -> list[tuple[str, str, str, str]]:
    smtp, paced = results["smtp"], results["paced"]
    return [
        ("1. SMTP end to end (serve, default workers)", _rate(smtp), "", ""),
        ("   end-of-DATA → 250, flat out", f"p50 {smtp['p50_ms']:.1f} ms, p99 {smtp['p99_ms']:.1f} ms", "", ""),
        *_cpu_rows(smtp),
        *_serve_ratio_rows(smtp),
        *(_two_worker_rows(results["smtp_workers_2"]) if "smtp_workers_2" in results else []),
        *_naive_rows(results, "naive_normal", "2. naive limit, synchronous=NORMAL"),
        *_naive_rows(results, "naive", "   naive limit, synchronous=FULL (as durable as serve)"),
        (f"   end-of-DATA → 250 at {paced['offered_per_second']:.0f} msg/s offered",
         f"p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms "
         f"(achieved {paced['achieved_per_second']:.0f} msg/s)", f"p99 < {P99_AIM_MS:.0f} ms",
         _met(paced["p99_ms"] < P99_AIM_MS)),
    ]


def _rate(smtp: dict) -> str:
    rate = f"{smtp['messages_per_second']:.1f} msg/s processed ({smtp['accepted_per_second']:.1f} msg/s answered 250)"
    rounds = smtp.get("rounds", [])
    # Results from before measurement 1 ran in rounds have one run and no round to name.
    return rate + (f"; round {smtp['round_shown']} of {len(rounds)}, the median one" if len(rounds) > 1 else "")


def _two_worker_rows(smtp: dict) -> list[tuple[str, str, str, str]]:
    return [("   the same, workers = 2 (one stores, one parses)", _rate(smtp), "", ""),
            *_cpu_rows(smtp), *_serve_ratio_rows(smtp)]


def _serve_ratio_rows(smtp: dict) -> list[tuple[str, str, str, str]]:
    """serve's processed rate over each naive limit of the same run."""
    rows = []
    for key, label in (("naive_normal", "synchronous=NORMAL"), ("naive", "synchronous=FULL")):
        if f"ratio_to_{key}" in smtp:
            ratio = smtp[f"ratio_to_{key}"]
            rows.append((f"   / naive limit, {label}", f"{ratio:.2f}{_by_round(smtp, key)}", f"≥ {RATIO_AIM:.1f}",
                         _met(ratio >= RATIO_AIM)))
    return rows


def _by_round(smtp: dict, key: str) -> str:
    """Each round's ratio, when there were several (the figure is their median)."""
    rounds = smtp.get("rounds", [])
    if len(rounds) < 2:
        return ""
    return f" (median of {' '.join(format(round_[f'ratio_to_{key}'], '.2f') for round_ in rounds)})"


def _naive_rows(results: dict, key: str, label: str) -> list[tuple[str, str, str, str]]:
    """A naive limit (aiosmtpd + stdlib parse + one SQLite insert)."""
    naive = results.get(key)
    if naive is None:
        return []
    runs = ", ".join(format(run["messages_per_second"], ".1f") for run in naive["runs"])
    return [(label, f"{naive['messages_per_second']:.1f} msg/s (runs before and after each round: {runs})"
             + _naive_cpu(naive), "", "")]


def _cpu_rows(smtp: dict) -> list[tuple[str, str, str, str]]:
    """CPU per message of serve's processes (bench/serve_proc.cpu_times), when measured."""
    listener, worker = smtp.get("listener_cpu_ms_per_message"), smtp.get("worker_cpu_ms_per_message")
    if listener is None or worker is None:
        return []
    processes = smtp.get("worker_processes", 1)
    sender = smtp.get("sender_cpu_ms_per_message")
    # Results from before the sender had a process of its own: the worker sent its queued mail too.
    sending = f" + sender {sender:.1f}" if sender is not None else " (its queued mail sent too)"
    return [("   CPU per message", f"{listener + worker + (sender or 0.0):.1f} ms = listener {listener:.1f} + "
             f"worker{'s' if processes != 1 else ''} {worker:.1f}{sending}{_client_cpu(smtp)}", "", "")]


def _naive_cpu(naive: dict) -> str:
    runs = [run["cpu_ms_per_message"] for run in naive["runs"] if "cpu_ms_per_message" in run]
    clients = [run["client_cpu_ms_per_message"] for run in naive["runs"] if "client_cpu_ms_per_message" in run]
    shown = f"; CPU {sum(runs) / len(runs):.1f} ms/msg" if runs else ""
    return shown + (f" (the clients {sum(clients) / len(clients):.1f})" if runs and clients else "")


def _client_cpu(run: dict) -> str:
    """The load clients' own CPU per message: they run on the same cores as the server."""
    clients = run.get("client_cpu_ms_per_message")
    return f" (the clients {clients:.1f})" if clients is not None else ""


def _imap_rows(imap: dict) -> list[tuple[str, str, str, str]]:
    if "skipped" in imap:
        return [("3. IMAP end to end", f"skipped: {imap['skipped']}", f"≥ {IMAP_AIM} of SMTP", "—")]
    return [("3. IMAP end to end (Dovecot → serve)",
             f"{imap['messages_per_second']:.1f} msg/s = {imap['ratio_to_smtp']:.2f} of SMTP",
             f"≥ {IMAP_AIM} of SMTP", _met(imap["ratio_to_smtp"] >= IMAP_AIM))]


def _scale_rows(scale: dict) -> list[tuple[str, str, str, str]]:
    if "skipped" in scale:
        return [("4. scale", f"skipped: {scale['skipped']}", f"≤ {SCALE_AIM}×", "—")]
    small, large = scale["small"], scale["large"]
    return [(f"4. ingest cost, {_count(small['messages'])} vs {_count(large['messages'])} stored",
             f"{small['ms_per_message']:.1f} vs {large['ms_per_message']:.1f} ms/msg = {scale['ratio']:.2f}× "
             f"(large db {large['bytes'] / 1e9:.2f} GB, built in {large['build_seconds']:.0f} s)",
             f"≤ {SCALE_AIM}×", _met(scale["ratio"] <= SCALE_AIM))]


def _memory_rows(results: dict) -> list[tuple[str, str, str, str]]:
    """RSS: the aim is per process (serve, each worker); the sum of them all is shown beside it."""
    smtp, long_run = results["smtp"], results["long_run"]
    by_round = long_run["rss_by_round_mb"]
    first, middle, end = by_round[0], by_round[len(by_round) // 2], by_round[-1]
    growth = (end - middle) / middle if middle else 0.0
    largest = max(smtp["peak_process_rss_mb"], long_run["peak_process_rss_mb"])
    return [
        ("5. RSS, largest process during 1", f"{smtp['peak_process_rss_mb']:.0f} MB "
         f"(all processes together: {smtp['peak_rss_mb']:.0f} MB)", f"< {RSS_AIM_MB:.0f} MB",
         _met(smtp["peak_process_rss_mb"] < RSS_AIM_MB)),
        (f"   long run ({long_run['seconds']:.0f} s, {long_run['messages']} msgs, {long_run['rounds']} rounds)",
         f"all processes: {first:.0f} MB after round 1, {middle:.0f} MB halfway, {end:.0f} MB at end "
         f"({growth:+.0%} over the second half); largest process {largest:.0f} MB",
         f"< {RSS_AIM_MB:.0f} MB, flat (± {FLAT_SHARE:.0%})",
         _met(abs(growth) <= FLAT_SHARE and largest < RSS_AIM_MB)),
    ]


def _curve_rows(curve: dict) -> list[tuple[str, str, str, str]]:
    """Backlog drain rate of serve by worker count (bench/workers_curve.py), with the storing worker's CPU."""
    rows = []
    for number, (workers, figures) in enumerate(curve.items()):
        runs = figures["runs"]
        cpu = sorted(run["workers_cpu_ms"] for run in runs)[len(runs) // 2]
        parsers = sorted(run["parsers_cpu_ms"] for run in runs)[len(runs) // 2]
        # Results from before the sender had a process of its own have no sender figure.
        senders = sorted(run["sender_cpu_ms"] for run in runs if "sender_cpu_ms" in run)
        sender = f", sender {senders[len(senders) // 2]:.1f} ms" if senders else ""
        name = f"7. backlog drained, workers = {workers}" if number == 0 else f"   workers = {workers}"
        rows.append((name, f"{figures['median_msg_s']:.1f} msg/s (CPU per message: storing worker "
                     f"{cpu:.1f} ms, parsers {parsers:.1f} ms{sender})", "", ""))
    return rows


def _startup_rows(startup: dict) -> list[tuple[str, str, str, str]]:
    """Each command's start as a fresh process; `python -c pass` is the floor, with no aim."""
    rows = []
    for number, (label, figures) in enumerate(startup.items()):
        name = f"6. start-up: {label}" if number == 0 else f"   {label}"
        figure = f"{figures['median']:.3f} s (p90 {figures['p90']:.3f} s, CPU {figures['cpu_median']:.3f} s)"
        if label.startswith("python"):
            rows.append((name, figure, "", ""))
        else:
            rows.append((name, figure, f"≤ {STARTUP_AIM_S} s", _met(figures["median"] <= STARTUP_AIM_S)))
    return rows


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (
        f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))
