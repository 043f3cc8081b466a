"""`[sms]`: which gateway sends escalation SMS, its credentials, and how texts are fitted into segments.

Credentials may be written `"env:NAME"` (as any string in the file) or `"file:/path"`: the file is
read once at load (its surrounding whitespace dropped), so a missing or unreadable file is a
config problem with its path, not a failed SMS at three in the morning.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr, model_validator

from mailbridge.config.tables import OWN, Table, defaults

_FILE_PREFIX = "file:"


def _secret(value: str) -> str:
    if not value.startswith(_FILE_PREFIX):
        return value
    path = Path(value[len(_FILE_PREFIX):]).expanduser()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not text:
        raise ValueError(f"{path} is empty")
    return text


Secret = Annotated[StrictStr, AfterValidator(_secret)]


class HttpProviderConfig(Table):
    """`[sms.http]`: any gateway with an HTTP API; values are templates over `sms.to`, `sms.text`, `sms.id`..."""

    url: StrictStr = ""
    method: Literal["POST", "GET", "PUT"] = "POST"
    headers: dict[StrictStr, Secret] = Field(default_factory=dict, repr=False)
    # Either form fields or a JSON body (values rendered as templates); GET sends `form` as the query.
    form: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    json_body: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    # The header carrying our idempotency key (the SMS's intent), "" for none.
    idempotency_header: StrictStr = "Idempotency-Key"


class SmsapiConfig(Table):
    """`[sms.smsapi]`: SMSAPI.pl (OAuth token), with `idx` + `check_idx` so a retry is never sent twice."""

    token: Secret = Field(default="", repr=False)
    url: StrictStr = "https://api.smsapi.pl/sms.do"
    # Sender name registered with SMSAPI ("" = the account's default).
    sender: StrictStr = ""
    # test=1: SMSAPI checks and answers but sends nothing and charges nothing.
    test: StrictBool = False


class TwilioConfig(Table):
    """`[sms.twilio]`: Twilio's Messages API (account SID and auth token)."""

    account_sid: StrictStr = ""
    auth_token: Secret = Field(default="", repr=False)
    from_number: StrictStr = ""
    messaging_service_sid: StrictStr = ""
    url: StrictStr = "https://api.twilio.com"


class CommandConfig(Table):
    """`[sms.command]`: a local program (e.g. gammu-smsd-inject); each argument is a template, no shell."""

    argv: tuple[StrictStr, ...] = ()
    # Exit codes that mean "this SMS can never be sent" (others are retried): sysexits' data errors.
    permanent_exit_codes: tuple[StrictInt, ...] = (64, 65, 67, 68)


class InboundConfig(Table):
    """`[sms.inbound]`: the webhook a gateway posts incoming SMS to (agents answering `OK DYN-000123`)."""

    # "host:port" to listen on ("" = no webhook); put a TLS proxy in front of it.
    listen: StrictStr = ""
    path: StrictStr = "/sms/inbound"
    # Required with `listen`: the gateway sends it as ?token=… or the X-Mailbridge-Token header.
    token: Secret = Field(default="", repr=False)

    @model_validator(mode="after")
    def _complete(self) -> "InboundConfig":
        if self.listen:
            host, _, port = self.listen.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError(f"listen must be host:port (like 127.0.0.1:8025): {self.listen!r}")
            if len(self.token) < 16:
                raise ValueError("a token of at least 16 characters is needed with listen "
                                 "(anyone who can reach the webhook could stop escalations)")
        if not self.path.startswith("/"):
            raise ValueError(f"path must start with '/': {self.path!r}")
        return self

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class SmsSection(Table):
    """`[sms]`: the provider, the text's language rules, retries."""

    provider: Literal["log", "http", "smsapi", "twilio", "command"] = "log"
    # `log` writes here (relative to state_dir): one JSON object per SMS.
    log_file: StrictStr = "sms-outbox.jsonl"
    max_segments: StrictInt = Field(default=1, ge=1, le=10)
    # Replace letters GSM-7 lacks (ą→a, ł→l, ñ stays) so a text fits 160 characters, not 70.
    transliterate: StrictBool = False
    timeout_seconds: StrictInt = Field(default=10, ge=1, le=300)
    max_attempts: StrictInt = Field(default=8, ge=1, le=100)
    http: Annotated[HttpProviderConfig, OWN] = Field(default_factory=defaults(HttpProviderConfig))
    smsapi: Annotated[SmsapiConfig, OWN] = Field(default_factory=defaults(SmsapiConfig))
    twilio: Annotated[TwilioConfig, OWN] = Field(default_factory=defaults(TwilioConfig))
    command: Annotated[CommandConfig, OWN] = Field(default_factory=defaults(CommandConfig))
    inbound: Annotated[InboundConfig, OWN] = Field(default_factory=defaults(InboundConfig))

    @model_validator(mode="after")
    def _provider_configured(self) -> "SmsSection":
        missing = {
            "http": [] if self.http.url else ["http.url"],
            "smsapi": [] if self.smsapi.token else ["smsapi.token"],
            "twilio": [name for name, value in (("twilio.account_sid", self.twilio.account_sid),
                                                ("twilio.auth_token", self.twilio.auth_token)) if not value]
                      + ([] if self.twilio.from_number or self.twilio.messaging_service_sid
                         else ["twilio.from_number (or messaging_service_sid)"]),
            "command": [] if self.command.argv else ["command.argv"],
        }.get(self.provider, [])
        if missing:
            raise ValueError(f"provider {self.provider!r} needs {', '.join(missing)}")
        return self

    @property
    def lease_seconds(self) -> int:
        """How long a claimed SMS is left to its sender before another may try it: a few timeouts."""
        return max(3 * self.timeout_seconds, 3)
