"""`[[oauth]]`: OAuth 2.0 clients that log in as a user (Gmail, Microsoft 365) for IMAP and the relay.

Google and Microsoft refuse passwords for IMAP and SMTP. An `[[oauth]]` table names an app
registered with the provider (its client id, and secret where the provider issues one); an
`[[imap]]` account with `auth = "oauth2-user"` or the relay with `relay_auth = "xoauth2"` names
it with `oauth = "NAME"`. `mailbridge oauth login NAME` asks the user's consent once (the
installed-app flow in a browser, or the device-code flow on another device) and keeps the
refresh token in STATE_DIR/oauth/NAME.json; mailbridge gets access tokens from it as needed.
"""

import re
from typing import Literal

from pydantic import Field, StrictStr, field_validator, model_validator

from mailbridge.config.tables import Table

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# The endpoints and default scopes of the two providers mailboxes live at.
_GOOGLE = {"auth_url": "https://accounts.google.com/o/oauth2/v2/auth",
           "token_url": "https://oauth2.googleapis.com/token",
           "device_url": "https://oauth2.googleapis.com/device/code",
           "scope": "https://mail.google.com/"}
_MICROSOFT = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/"
_MICROSOFT_SCOPE = ("https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send "
                    "offline_access")


class OAuthClient(Table):
    """One `[[oauth]]` table: an app registration that mailboxes log in through as a user."""

    name: StrictStr
    provider: Literal["google", "microsoft", "other"] = "other"
    # Microsoft: the directory (tenant) id or domain; "common" for any account.
    tenant: StrictStr = ""
    client_id: StrictStr
    client_secret: StrictStr = Field(default="", repr=False)
    # "" = the provider's: Gmail's full mail scope; Microsoft's IMAP and SMTP scopes.
    scope: StrictStr = ""
    # "" = the provider's endpoints; required for provider = "other".
    auth_url: StrictStr = ""
    token_url: StrictStr = ""
    device_url: StrictStr = ""
    # How `oauth login` asks for consent: a browser on this machine (installed-app, with a
    # loopback redirect) or a code typed on any device (device-code). "" = the provider's usual:
    # installed-app for Google (its device flow refuses mail scopes), device-code for Microsoft.
    flow: Literal["", "installed-app", "device-code"] = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(f"must be letters, digits, '.', '_' and '-' (e.g. gmail-soporte): {value!r}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> "OAuthClient":
        if self.provider == "microsoft" and not self.tenant:
            raise ValueError('provider = "microsoft" needs tenant (the directory id or domain, or "common")')
        if not self.endpoint("token_url"):
            raise ValueError('provider = "other" needs token_url')
        needed = "auth_url" if self.login_flow == "installed-app" else "device_url"
        if not self.endpoint(needed):
            raise ValueError(f"the {self.login_flow} flow needs {needed}")
        for key in ("auth_url", "token_url", "device_url"):
            url = getattr(self, key)
            if url and not url.startswith(("https://", "http://127.", "http://localhost", "http://[::1]")):
                raise ValueError(f"{key} must be an https:// URL")
        return self

    @property
    def login_flow(self) -> str:
        return self.flow or ("installed-app" if self.provider in ("google", "other") else "device-code")

    @property
    def scopes(self) -> str:
        if self.scope:
            return self.scope
        return {"google": _GOOGLE["scope"], "microsoft": _MICROSOFT_SCOPE}.get(self.provider, "")

    def endpoint(self, key: str) -> str:
        """`auth_url`, `token_url` or `device_url`: configured, else the provider's."""
        if getattr(self, key):
            return getattr(self, key)
        if self.provider == "google":
            return _GOOGLE[key]
        if self.provider == "microsoft":
            return _MICROSOFT.format(tenant=self.tenant) + {"auth_url": "authorize", "token_url": "token",
                                                            "device_url": "devicecode"}[key]
        return ""


def oauth_conflicts(data: dict) -> list[str]:
    """Problems across tables: an [[oauth]] name used twice, or an account naming one that does not exist."""
    clients = data.get("oauth") if isinstance(data.get("oauth"), list) else []
    names: dict[str, int] = {}
    problems = []
    for index, client in enumerate(clients):
        name = client.get("name") if isinstance(client, dict) else None
        if isinstance(name, str) and names.setdefault(name, index) != index:
            problems.append(f"oauth[{index}].name: {name!r} is already used by oauth[{names[name]}]")
    known = ", ".join(sorted(names)) or "none"
    users = [(f"imap[{i}]", a) for i, a in enumerate(data.get("imap") or []) if isinstance(a, dict)
             and a.get("auth") == "oauth2-user"]
    outbox = data.get("outbox") if isinstance(data.get("outbox"), dict) else {}
    if outbox.get("relay_auth") == "xoauth2":
        users.append(("outbox", {"oauth": outbox.get("relay_oauth", "")}))
    for where, table in users:
        key = "relay_oauth" if where == "outbox" else "oauth"
        name = table.get("oauth", "")
        if not name:
            problems.append(f"{where}.{key}: required: the name of an [[oauth]] table (oauth: {known})")
        elif name not in names:
            problems.append(f"{where}.{key}: no [[oauth]] table named {name!r} (oauth: {known})")
    return problems
