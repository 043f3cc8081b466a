"""`[[imap]]`: mailboxes `mailbridge serve` reads (host, TLS, login, folder, what to do once stored)."""

import ipaddress
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mailbridge.config.tables import Table

# Servers drop an IDLE after 30 minutes of silence at the latest (RFC 2177 asks clients to
# renew within 29); renewing earlier is safe, later is not.
MAX_IDLE_RENEW_SECONDS = 29 * 60 - 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# An IMAP keyword is an atom: no spaces, brackets, wildcards, quotes or backslash (RFC 3501).
_KEYWORD = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|~]{1,64}")
_BACKLOG = re.compile(r"all|unseen|new|since:(\d{4}-\d{2}-\d{2})")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def _account_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"must be letters, digits, '.', '_' and '-' (e.g. soporte-m365): {value!r}")
    return value


def _keyword(value: str) -> str:
    if not _KEYWORD.fullmatch(value):
        raise ValueError(f"not an IMAP keyword (letters, digits, '$', '_', '-'; no spaces): {value!r}")
    return value


def _backlog(value: str) -> str:
    match = _BACKLOG.fullmatch(value)
    if not match:
        raise ValueError(f'must be "all", "unseen", "new" or "since:YYYY-MM-DD": {value!r}')
    if match.group(1):
        try:
            date.fromisoformat(match.group(1))
        except ValueError:
            raise ValueError(f"not a date: {match.group(1)!r}") from None
    return value


def _not_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return value


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (127.0.0.0/8, ::1 or localhost): plain IMAP is safe there."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ImapAccount(Table):
    """One `[[imap]]` table: a mailbox whose mail becomes tickets."""

    name: Annotated[StrictStr, AfterValidator(_account_name)]
    host: Annotated[StrictStr, AfterValidator(_not_empty)]
    # 0 = the TLS mode's standard port: 993 for implicit TLS, 143 otherwise.
    port: StrictInt = Field(default=0, ge=0, le=65535)
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    allow_plaintext: StrictBool = False
    ca_file: StrictStr = ""
    user: Annotated[StrictStr, AfterValidator(_not_empty)]
    # "password": LOGIN with user and password. "oauth2": an OAuth 2.0 token from the client
    # credentials flow (Microsoft 365, where passwords are refused), sent with XOAUTH2.
    # "oauth2-user": a token from the user's consent (Gmail, Microsoft 365 delegated), through the
    # [[oauth]] table named by `oauth` (see `mailbridge oauth login`).
    auth: Literal["password", "oauth2", "oauth2-user"] = "password"
    oauth: StrictStr = ""
    password: StrictStr = Field(default="", repr=False, validate_default=True)
    oauth2_tenant: StrictStr = ""
    oauth2_token_url: StrictStr = ""
    oauth2_client_id: StrictStr = ""
    oauth2_client_secret: StrictStr = Field(default="", repr=False)
    oauth2_scope: StrictStr = "https://outlook.office365.com/.default"
    folder: Annotated[StrictStr, AfterValidator(_not_empty)] = "INBOX"
    queue: StrictStr = ""
    after_processing: Literal["move", "flag"] = "move"
    processed_folder: StrictStr = "mailbridge-processed"
    keyword: Annotated[StrictStr, AfterValidator(_keyword)] = "MailbridgeProcessed"
    poll_interval: StrictInt = Field(default=60, ge=1, le=86400)
    idle: StrictBool = True
    idle_renew: StrictInt = Field(default=25 * 60, ge=1, le=MAX_IDLE_RENEW_SECONDS)
    batch_size: StrictInt = Field(default=100, ge=1, le=1000)
    backlog: Annotated[StrictStr, AfterValidator(_backlog)] = "unseen"
    timeout: StrictInt = Field(default=60, ge=5, le=600)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str, info: ValidationInfo) -> str:
        # A field check rather than a table check, so that the problem is named by its key (and
        # not reported twice when an unset env: variable already was).
        if not value and info.data.get("auth", "password") == "password":
            raise ValueError('required key is missing (or set auth = "oauth2")')
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "ImapAccount":
        if self.tls == "none" and not self.allow_plaintext and not is_loopback(self.host):
            raise ValueError(
                f'tls = "none" sends the password in clear to {self.host}: use "implicit" or '
                '"starttls", or set allow_plaintext = true (only on a network you trust)'
            )
        _check_login(self)
        if self.ca_file and not Path(self.ca_file).is_file():
            raise ValueError(f"ca_file: no such file: {self.ca_file}")
        if self.after_processing == "move" and not self.processed_folder.strip():
            raise ValueError('after_processing = "move" needs a processed_folder')
        if self.after_processing == "move" and self.processed_folder == self.folder:
            raise ValueError("processed_folder must differ from folder")
        return self

    @property
    def token_url(self) -> str:
        """Where OAuth 2.0 tokens come from: oauth2_token_url, else Microsoft's for the tenant."""
        if self.oauth2_token_url:
            return self.oauth2_token_url
        return f"https://login.microsoftonline.com/{self.oauth2_tenant}/oauth2/v2.0/token"

    @property
    def server_port(self) -> int:
        """The port to connect to, with the TLS mode's standard one filled in."""
        return self.port or (993 if self.tls == "implicit" else 143)

    @property
    def backlog_since(self) -> date | None:
        """The date of a `since:YYYY-MM-DD` backlog rule, else None."""
        return date.fromisoformat(self.backlog[6:]) if self.backlog.startswith("since:") else None


def _check_login(account: ImapAccount) -> None:
    if account.auth in ("password", "oauth2-user"):
        return
    missing = [key for key in ("oauth2_client_id", "oauth2_client_secret", "oauth2_scope")
               if not getattr(account, key)]
    if not account.oauth2_tenant and not account.oauth2_token_url:
        missing.append("oauth2_tenant (or oauth2_token_url)")
    if missing:
        raise ValueError(f'auth = "oauth2" needs {", ".join(missing)}')
    if account.oauth2_token_url and not account.oauth2_token_url.startswith(("https://", "http://127.", "http://localhost")):
        raise ValueError("oauth2_token_url must be an https:// URL")


def imap_conflicts(accounts: object, queues: object) -> list[str]:
    """Problems across tables: an account name used twice, or a `queue` no [[queues]] table has."""
    if not isinstance(accounts, Sequence) or isinstance(accounts, str):
        return []
    names = _queue_names(queues)
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, account in enumerate(accounts):
        if not isinstance(account, dict):
            continue
        name = account.get("name")
        if isinstance(name, str) and seen.setdefault(name, index) != index:
            problems.append(f"imap[{index}].name: {name!r} is already used by imap[{seen[name]}]")
        queue = account.get("queue")
        if isinstance(queue, str) and queue and names is not None and queue not in names:
            known = ", ".join(sorted(names)) or "none"
            problems.append(f"imap[{index}].queue: no queue named {queue!r} (queues: {known})")
    return problems


def _queue_names(queues: object) -> set[str] | None:
    if not isinstance(queues, Sequence) or isinstance(queues, str):
        return None
    return {q["name"] for q in queues if isinstance(q, dict) and isinstance(q.get("name"), str)}
