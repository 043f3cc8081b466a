"""`[metrics]` and `[import]`: the Prometheus endpoint of `serve` and what `ingest --import` does with history."""

import ipaddress
from typing import Literal

from pydantic import Field, StrictInt, StrictStr, field_validator

from mailbridge.config.tables import Table


class MetricsSection(Table):
    """`[metrics]`: where `serve` answers Prometheus at /metrics ("" = off, the default)."""

    listen: StrictStr = ""

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str) -> str:
        if value:
            split_listen(value)
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) to listen on, or None when metrics are off."""
        return split_listen(self.listen) if self.listen else None


def split_listen(value: str) -> tuple[str, int]:
    """`127.0.0.1:9464` or `[::1]:9464` as (host, port); ValueError naming the expected form."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"must be HOST:PORT, e.g. 127.0.0.1:9464: {value!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"must be an IP address (or localhost) and a port: {value!r}") from None
    return host, int(port)


class ImportSection(Table):
    """`[import]`: how `mailbridge ingest --import` leaves the tickets of old mail."""

    # Tickets whose last message is older than this many days (before the import runs) are
    # set to `status`; younger ones stay open, as live mail would have left them.
    close_after_days: StrictInt = Field(default=14, ge=0)
    status: Literal["closed", "resolved", "open"] = "closed"
