"""The service: `mailbridge serve`'s moving parts, which start, supervise and stop everything else.

`daemon` runs the SMTP/LMTP listener, the IMAP pollers and the periodic ticks in one event loop;
`workers` decides how many child processes process mail and starts them; `worker_process` is
one such child, which processes mail (`worker`, with `parsers` parsing ahead of it on SQLite);
`sender_process` is the child that sends what was queued (the outbox worker); `child_process`
is what both kinds of child share (the pipe to `serve`, restarts, the per-slot lock);
`deadlines` is the tick that warns agents before a legal deadline; `escalations`
runs the escalation ladders' due steps and sends their SMS. Its health
signals: `sdnotify` (systemd readiness and watchdog), `instance` (the heartbeat row),
`health` (the verdict `mailbridge status` prints), `metrics` (Prometheus), `reload` (SIGHUP);
`unit` is the systemd unit, `connect_check` what `check-config --connect` tries; `leave` ends
`serve` and its children, their work closed, without Python's teardown. A new
background job (a tick, a runner) or a new health signal of the daemon belongs here. It may
import everything below it (`pipeline`, `escalation`, `status`, `history`, `outgoing`, `sla`, `sources`,
`intake`, `oauth`, `store`, `config`); only `cli` imports it.
"""
