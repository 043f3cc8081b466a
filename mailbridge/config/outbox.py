"""`[outbox]`: where the mail we send goes (an SMTP relay or a local Maildir) and its limits."""

from pathlib import Path
from typing import Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from mailbridge.config.tables import Table


class OutboxSection(Table):
    """`[outbox]`: relay, Maildir fallback, templates, retries and the loop-protection limits."""

    # "" = no relay: every mail is written to a Maildir folder a person can open.
    relay_host: StrictStr = ""
    relay_port: StrictInt = Field(default=587, ge=1, le=65535)
    relay_tls: Literal["starttls", "implicit", "none"] = "starttls"
    relay_user: StrictStr = ""
    relay_password: StrictStr = Field(default="", repr=False)
    # "password": AUTH with relay_user and relay_password. "xoauth2": AUTH XOAUTH2 as relay_user
    # with a token from the [[oauth]] table named by relay_oauth (smtp.gmail.com, smtp.office365.com).
    relay_auth: Literal["password", "xoauth2"] = "password"
    relay_oauth: StrictStr = ""
    relay_ca_file: StrictStr = ""
    relay_timeout_seconds: StrictInt = Field(default=30, ge=1, le=600)
    maildir: StrictStr = ""
    templates_dir: StrictStr = ""
    send_acknowledgements: StrictBool = True
    notify_agents: StrictBool = True
    max_auto_per_recipient: StrictInt = Field(default=10, ge=1)
    per_hours: StrictInt = Field(default=3, ge=1)
    undeliverable_days: StrictInt = Field(default=7, ge=0)
    max_attempts: StrictInt = Field(default=25, ge=1, le=1000)

    @field_validator("relay_ca_file")
    @classmethod
    def _readable_file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("templates_dir")
    @classmethod
    def _directory(cls, value: str) -> str:
        if value and not Path(value).is_dir():
            raise ValueError(f"no such directory: {value}")
        return value

    @model_validator(mode="after")
    def _login_consistent(self) -> "OutboxSection":
        if self.relay_auth == "xoauth2":
            if not self.relay_user:
                raise ValueError('relay_auth = "xoauth2" needs relay_user (the mailbox to send as)')
            if self.relay_password:
                raise ValueError('relay_auth = "xoauth2" takes no relay_password: the token comes from relay_oauth')
        elif bool(self.relay_user) != bool(self.relay_password):
            raise ValueError("relay_user and relay_password go together: set both or neither")
        if self.relay_user and not self.relay_host:
            raise ValueError("relay_user is set but relay_host is empty")
        return self
