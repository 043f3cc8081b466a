"""`mailbridge check-config`: say what the config file means, or list its problems one per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mailbridge.cli import SETUP_PANEL, app
from mailbridge.cli.common import url_for_people
from mailbridge.cli.config_options import ConfigOption, JsonOption, config_or_exit
from mailbridge.config import Config, QueueConfig, load_config
from mailbridge.errors import ConfigError
from mailbridge.escalation.sms_text import check_sms_templates
from mailbridge.outgoing.templates import check_templates

HELP = """Check the config file and say what mailbridge understood.

Run it after every change to the config, before (re)starting `mailbridge serve`. It prints the
queues (addresses, code prefix, language, agents), the database URL (password masked), the
state directory, where the signing secret comes from and where outgoing mail goes. Every mail
template a queue can use is rendered with sample values, so a broken template is reported here
rather than on the first customer mail.

On problems it prints one line per problem to standard error, named by the key's path
(`queues[2].address: not an email address`), and exits 1. Nothing is written: the state
directory and the secret are only created when mailbridge runs.

Passwords and client secrets (`env:`, `file:`, `credential:`) are only read with `--connect`,
which also tries what the config points at: it connects to the database and reads its schema
revision, says EHLO to the relay with STARTTLS and the login (or checks that the Maildir can
be written), and logs in to each IMAP account. Each try is one line; any failure exits 1.
With `--json`: one object (`config`, `problems`, `connect`).

Examples:

    mailbridge check-config
    mailbridge check-config --config config/mailbridge.example.toml
    mailbridge check-config --connect
"""

ConnectOption = Annotated[bool, typer.Option(
    "--connect", help="Also connect to the database, the relay and each IMAP account.")]


@app.command("check-config", help=HELP, rich_help_panel=SETUP_PANEL)
def check_config(connect: ConnectOption = False, as_json: JsonOption = False, config: ConfigOption = None) -> None:
    loaded = _config_for_check(config, need_secrets=connect, as_json=as_json)
    problems = check_templates(loaded) + check_sms_templates(loaded)
    reached = []
    if connect and not problems:
        from mailbridge.service.connect_check import reach_all
        from mailbridge.store.types import utcnow

        reached = reach_all(loaded, utcnow().date())
    failed = bool(problems) or any(not r.ok for r in reached)
    if as_json:
        typer.echo(json.dumps({"config": str(loaded.source), "ok": not failed, "problems": problems,
                               "summary": summary(loaded),
                               "connect": [{"target": r.target, "ok": r.ok, "detail": r.detail} for r in reached]},
                              ensure_ascii=False))
        raise typer.Exit(1 if failed else 0)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("\n".join(summary(loaded)))
    for reach in reached:
        typer.echo(f"{reach.target}: {'ok' if reach.ok else 'FAILED'}: {reach.detail}", err=not reach.ok)
    if failed:
        raise typer.Exit(1)


def _config_for_check(path: Path | None, *, need_secrets: bool, as_json: bool) -> Config:
    if not as_json:
        return config_or_exit(path, need_secrets=need_secrets)
    try:
        return load_config(path, need_secrets=need_secrets)
    except ConfigError as exc:
        typer.echo(json.dumps({"config": str(path) if path else None, "ok": False, "problems": exc.problems,
                               "summary": [], "connect": []}, ensure_ascii=False))
        raise typer.Exit(1) from None


def summary(config: Config) -> list[str]:
    """A short description of the config, for a person."""
    lines = [
        f"config: {config.source}",
        f"state dir: {config.state_dir}{'' if config.state_dir.is_dir() else ' (will be created)'}",
        f"database: {url_for_people(config.database_url)}",
        f"secret: {_secret_origin(config)}",
        f"message-id domain: {config.message_domain}",
        f"reopen window: {config.threading.reopen_window_days} days",
        f"listener: {config.listener.protocol} on {config.listener.host}:{config.listener.port}",
        f"outbox: {_outbox_line(config)}",
        f"metrics: {f'http://{config.metrics.listen}/metrics' if config.metrics.listen else 'off'}",
        *[_oauth_line(config, client.name) for client in config.oauth],
        f"agents' mail: {_agent_mail_line(config)}",
        f"escalation: {_escalation_line(config)}",
        f"queues: {len(config.queues)}",
    ]
    for queue in config.queues:
        lines += _queue_lines(queue)
    if config.catch_all is None:
        lines.append("catch-all: none (mail to any other address is refused)")
    return lines


def _queue_lines(queue: QueueConfig) -> list[str]:
    catch_all = ", catch-all" if queue.catch_all else ""
    return [
        f"  {queue.name}: {queue.code_prefix}-000001, {queue.language}, "
        f"\"{queue.label}\"{catch_all}",
        f"    addresses: {', '.join(queue.addresses())} (and +tag sub-addresses)",
        f"    agents: {', '.join(queue.agents) if queue.agents else 'none'}",
    ]


def _escalation_line(config: Config) -> str:
    ladders = config.escalation.ladders
    if not ladders:
        return "none (no [[escalation.ladders]])"
    sms = config.sms.provider + (f" to {config.sms_log_path}" if config.sms.provider == "log" else "")
    return f"ladders {', '.join(ladder.name for ladder in ladders)}; SMS via {sms}"


def _outbox_line(config: Config) -> str:
    settings = config.outbox
    if not settings.relay_host:
        return f"no relay: mail is written to the Maildir {config.outbox_maildir}"
    login = f", login {settings.relay_user}" if settings.relay_user else ""
    if settings.relay_auth == "xoauth2":
        login += f" with XOAUTH2 through [[oauth]] {settings.relay_oauth}"
    return f"relay {settings.relay_host}:{settings.relay_port} ({settings.relay_tls}{login})"


def _oauth_line(config: Config, name: str) -> str:
    stored = config.oauth_dir / f"{name}.json"
    state = f"consent kept in {stored}" if stored.exists() else f"no consent yet: `mailbridge oauth login {name}`"
    return f"oauth {name}: {config.oauth_client(name).provider}, {state}"


def _agent_mail_line(config: Config) -> str:
    """How agents' answers are trusted, who gets notices, when resolved tickets close."""
    authserv = config.listener.trusted_authserv_id
    gate = f"DKIM/DMARC from {authserv} required" if authserv else "DKIM/DMARC not checked ([listener] trusted_authserv_id)"
    days = config.agent_mail.auto_close_days
    closing = f"resolved tickets close after {days} days" if days else "resolved tickets never close by themselves"
    return f"reply token + {gate}; notices to {config.agent_mail.notices_to}; {closing}"


def _secret_origin(config: Config) -> str:
    if config.mailbridge.secret:
        return "set in the config"
    if config.secret_path.exists():
        return f"kept in {config.secret_path}"
    return f"generated on first use, kept in {config.secret_path}"
