"""`[listener]`: where `mailbridge serve` takes mail in (SMTP or LMTP), with its limits and locks."""

from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    IPvAnyNetwork,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from mailbridge.config.checks import check_secret
from mailbridge.config.tables import Table

MIB = 1024 * 1024


def _password(value: str) -> str:
    if not value:
        raise ValueError("is empty")
    return check_secret(value)


# An SMTP login password: the same rules as the signing secret (no placeholders, 16+ characters).
Password = Annotated[StrictStr, AfterValidator(_password)]


class ListenerSection(Table):
    """`[listener]`: protocol, address, limits, STARTTLS, AUTH users and trusted networks."""

    protocol: Literal["smtp", "lmtp"] = "smtp"
    host: StrictStr = "127.0.0.1"
    # 0 lets the system pick a free port (tests); the log line says which one.
    port: StrictInt = Field(default=2525, ge=0, le=65535)
    hostname: StrictStr = ""
    max_message_size: StrictInt = Field(default=25 * MIB, ge=1024)
    max_recipients: StrictInt = Field(default=50, ge=1, le=1000)
    tls_cert: StrictStr = ""
    tls_key: StrictStr = ""
    require_tls: StrictBool = False
    users: dict[StrictStr, Password] = Field(default_factory=dict, repr=False)
    auth_require_tls: StrictBool = True
    trusted_networks: tuple[IPvAnyNetwork, ...] = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # The authserv-id your MTA writes in its Authentication-Results header (e.g. "mx.example.com").
    # When set, an agent's action by mail also needs dkim=pass or dmarc=pass for the agent's
    # domain in the first such header carrying this id. "" = not checked.
    trusted_authserv_id: StrictStr = ""
    # Connections at once: all of them, and from one address outside trusted_networks. Those
    # outside may hold half of max_connections at most, so the local MTA always finds room.
    max_connections: StrictInt = Field(default=800, ge=2, le=60000)
    max_connections_per_client: StrictInt = Field(default=20, ge=1, le=60000)
    # Idle time allowed between commands; before MAIL FROM, a client outside trusted_networks
    # gets only untrusted_idle_seconds.
    idle_seconds: StrictInt = Field(default=300, ge=1, le=3600)
    untrusted_idle_seconds: StrictInt = Field(default=30, ge=1, le=3600)

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _readable_file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _tls_consistent(self) -> "ListenerSection":
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        if self.require_tls and not self.tls_cert:
            raise ValueError("require_tls needs tls_cert and tls_key")
        if self.users and self.auth_require_tls and not self.tls_cert:
            raise ValueError(
                "users can only log in over TLS: set tls_cert and tls_key, "
                "or auth_require_tls = false (only on a network you trust)"
            )
        return self
