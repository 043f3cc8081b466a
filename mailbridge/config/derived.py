"""Values computed from the config in use (SLA policies, calendars), made once until the config is replaced.

A `Config` never changes (its models are frozen; a reload makes a new one), so what is computed
from it for every message (the policy of a ticket's priority and type, a queue's calendar) is
the same until then. One config is remembered, the one asked about last: a process runs with one
at a time, and a lookup with another one (a reload, a test) starts afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

# The config and its values, replaced together in one assignment, so that a thread that read
# them never pairs one config with another's values.
_current: tuple[object, dict[Hashable, object]] = (None, {})
# Looked up once per call (a key is a tuple hashed on every lookup); None may be a value.
_MISSING = object()


def derived(config: object, key: Hashable, make: Callable[[], T]) -> T:
    """`make()`, computed once for `config` and `key` (which must name everything else it depends on)."""
    global _current
    owner, values = _current
    if owner is not config:
        owner, values = config, {}
        _current = owner, values
    value = values.get(key, _MISSING)
    if value is _MISSING:
        value = values[key] = make()
    return value  # type: ignore[return-value]
