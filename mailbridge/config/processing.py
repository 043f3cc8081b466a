"""`[processing]`: how many processes parse and store incoming mail (`workers`)."""

import os

from pydantic import Field, StrictInt, field_validator

from mailbridge.config.tables import Table

# More than this is a typo rather than a plan: each worker is a process with its own memory and,
# on PostgreSQL, its own database connections.
MAX_WORKERS = 128


def default_workers() -> int:
    """The cores this process may run on, minus one for the listener; at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux, or a seccomp filter refuses the call
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


class ProcessingSection(Table):
    """`[processing]`: the worker processes; the default is resolved when the config is loaded."""

    workers: StrictInt = Field(default_factory=default_workers)

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1 (got {value}); leave it out for the number of cores minus one")
        if value > MAX_WORKERS:
            raise ValueError(f"must be at most {MAX_WORKERS} (got {value})")
        return value
