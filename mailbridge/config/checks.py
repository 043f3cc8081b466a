"""Rules on config values that pydantic types cannot say alone: secrets, database URLs, addresses, queues.

Plain functions without pydantic: the models use them as validators, and `mailbridge.config.plain`
applies the same ones to the plain case without importing pydantic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "replaceme", "replace-me", "placeholder")
_PLACEHOLDER_SECRETS = {"secret", "password", "mailbridge", "example", "xxxxxxxxxxxxxxxx"}
_MIN_SECRET = 16
_URL_EXAMPLES = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"
# URLs of the two usual shapes, which SQLAlchemy's `make_url` always parses into an accepted
# backend and driver: a SQLite path, or PostgreSQL with psycopg, plain user, password, host,
# numeric port and database, no query. They are accepted without importing SQLAlchemy (0.15 s
# that `tickets list` cannot spare, issue 17); any other URL is judged by `make_url`.
_PLAIN_URL = re.compile(r"sqlite:///[^?]*"
                        r"|postgresql\+psycopg://(?:[^:/@?#\[\]]*(?::[^@/?#]*)?@)?[A-Za-z0-9._-]*(?::\d+)?(?:/[^?#]*)?")

# Deliberately simpler than RFC 5322: a queue, alias or agent address is one mailbox written
# plainly (no display name, no brackets, no quoted local part), in a dotted domain.
# Top-level domains are letters, or punycode (xn--p1ai) for internationalised ones.
_DOMAIN_PATTERN = r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})"
_EMAIL = re.compile(rf"^[^\s@<>()\[\],;:\"\\]+@{_DOMAIN_PATTERN}$", re.IGNORECASE)
_DOMAIN = re.compile(rf"^{_DOMAIN_PATTERN}$", re.IGNORECASE)


def check_email(value: str) -> str:
    """An agent's address: one plain mailbox."""
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"not an email address: {value!r}")
    return value


def check_mailbox(value: str) -> str:
    """One of our own addresses (a queue's address or alias)."""
    # A `+` in one of our own addresses would be read as a sub-address of another one.
    check_email(value)
    if "+" in value.split("@")[0]:
        raise ValueError(f"must not contain '+' (support+tag@ already reaches support@): {value!r}")
    return value


def check_domain(value: str) -> str:
    """The domain of our Message-IDs, lowercased; "" (the first queue's) is fine."""
    if value and not _DOMAIN.fullmatch(value):
        raise ValueError(f"not a domain name: {value!r}")
    return value.lower()


def check_queue_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9-]{1,40}", value):
        raise ValueError(f"must be lowercase letters, digits and '-' (e.g. dynamics): {value!r}")
    return value


def check_code_prefix(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2,6}", value):
        raise ValueError(f"must be 2-6 capital letters (e.g. DYN): {value!r}")
    return value


def check_relay_display_name(value: str) -> str:
    """The From name of a relayed answer: a format string of {agent} and {queue} only."""
    try:
        value.format(agent="", queue="")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"only {{agent}} and {{queue}} may be used: {value!r} ({error})") from None
    return value


def check_zone(value: str) -> str:
    """A time zone the business-hours calendars can count in."""
    from mailbridge.sla.bizcal import Calendar, CalendarError, check

    try:
        check(Calendar(name="", zone=value))
    except CalendarError as error:
        raise ValueError(str(error)) from None
    return value


def check_secret(value: str) -> str:
    """Refuse a secret that is short or an obvious placeholder; "" (generate one) is fine."""
    if not value:
        return value
    lowered = value.strip().lower()
    if lowered in _PLACEHOLDER_SECRETS or any(w in lowered for w in _PLACEHOLDER_WORDS):
        raise ValueError("is a placeholder; set a random value (e.g. `openssl rand -hex 32`)")
    if len(set(lowered)) <= 2:
        raise ValueError("is not random; set a random value (e.g. `openssl rand -hex 32`)")
    if len(value) < _MIN_SECRET:
        raise ValueError(f"is too short: at least {_MIN_SECRET} characters are needed")
    return value


def check_database_url(value: str) -> str:
    """Accept SQLite and PostgreSQL URLs; `postgresql://` gets the installed psycopg driver."""
    if not value:
        return value
    # A bare `postgresql://` would make SQLAlchemy look for psycopg2, which is not installed.
    scheme, _, rest = value.partition("://")
    if scheme in ("postgres", "postgresql"):
        value = f"postgresql+psycopg://{rest}"
    if _PLAIN_URL.fullmatch(value):
        return value
    # SQLAlchemy is imported only for a config that sets a URL: loading the config must not
    # cost a command that never opens the database (`calendar show`) the database layer.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"not a database URL (use {_URL_EXAMPLES})") from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r} (use {_URL_EXAMPLES})")
    if backend == "postgresql" and url.get_driver_name() != "psycopg":
        raise ValueError(f"driver {url.drivername!r} is not installed (use postgresql+psycopg://…)")
    return value


def queue_conflicts(queues: object) -> list[str]:
    """Problems between queues: a name, prefix or address used twice, or two catch-alls."""
    if not isinstance(queues, Sequence) or isinstance(queues, str):
        return []
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    catch_alls: list[int] = []
    for index, queue in enumerate(queues):
        if not isinstance(queue, dict):
            continue
        for key, kind, value in _claims(queue):
            where = f"queues[{index}].{key}"
            first = seen.setdefault((kind, value), where)
            if first != where:
                problems.append(f"{where}: {value!r} is already used by {first}")
        if queue.get("catch_all") is True:
            catch_alls.append(index)
    for index in catch_alls[1:]:
        problems.append(
            f"queues[{index}].catch_all: only one queue may be the catch-all "
            f"(queues[{catch_alls[0]}] already is)"
        )
    return problems


def _claims(queue: dict) -> list[tuple[str, str, str]]:
    """(key path, kind, value) for each value of a queue that must be unique across queues."""
    claims = [(k, k, queue[k]) for k in ("name", "code_prefix") if isinstance(queue.get(k), str)]
    # An address and an alias share one namespace: both decide where mail goes.
    if isinstance(queue.get("address"), str):
        claims.append(("address", "address", queue["address"].lower()))
    aliases = queue.get("aliases")
    if isinstance(aliases, list | tuple):
        claims += [
            (f"aliases[{i}]", "address", a.lower()) for i, a in enumerate(aliases) if isinstance(a, str)
        ]
    return claims


def personal_agent_conflicts(data: object) -> list[str]:
    """`[[customers]] agent` values that are no queue's agent (they could own no ticket)."""
    if not isinstance(data, dict) or not isinstance(data.get("customers"), list):
        return []
    agents = {str(a).strip().lower() for q in data.get("queues") or [] if isinstance(q, dict)
              for a in (q.get("agents") or []) if isinstance(q.get("agents"), (list, tuple))}
    problems = []
    for index, customer in enumerate(data["customers"]):
        agent = customer.get("agent") if isinstance(customer, dict) else None
        if isinstance(agent, str) and agent.strip() and agent.strip().lower() not in agents:
            problems.append(f"customers[{index}].agent: {agent!r} is not an agent of any queue")
    return problems
