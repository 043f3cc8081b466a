"""`mailbridge oauth login NAME`: a user's consent for an [[oauth]] table, once; the refresh token kept."""

from __future__ import annotations

from typing import Annotated

import typer

from mailbridge.cli import SETUP_PANEL, group
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, fail, print_json, state_dir_origin

oauth_app = group("oauth", """Log mailboxes in to Gmail and Microsoft 365 with OAuth 2.0.

Google and Microsoft refuse passwords for IMAP and SMTP. An `[[oauth]]` table of the config
names the app registered with the provider; `[[imap]]` accounts with `auth = "oauth2-user"`
and the relay with `relay_auth = "xoauth2"` log in through it. `mailbridge oauth login NAME`
asks the mailbox owner's consent once and keeps the refresh token in the state directory;
from then on mailbridge renews its access tokens by itself.

Examples:

    mailbridge oauth login gmail-soporte
""", SETUP_PANEL)

LOGIN_HELP = """Ask the mailbox owner's consent and keep the refresh token.

Installed-app flow (Google's, and the default for other providers): prints an address to open
in a browser on this machine; the provider sends the browser back to a port on 127.0.0.1
where this command waits (through SSH: `ssh -L PORT:127.0.0.1:PORT` as printed). Device-code
flow (Microsoft's default): prints a short code to enter at the provider's page, on any device.

The refresh token is written to STATE_DIR/oauth/NAME.json (mode 0600): run this as the user the
service runs as, with its config, so that `serve` can read it (docs/operations.md shows how).
When the provider later refuses the token (consent revoked, password changed), `serve` logs
it and keeps the mail; run this command again.

Examples:

    mailbridge oauth login gmail-soporte
    mailbridge oauth login m365-soporte --flow device-code
"""


@oauth_app.command("login", help=LOGIN_HELP)
def login_command(
    name: Annotated[str, typer.Argument(help="The name of the [[oauth]] table.", metavar="NAME",
                                        show_default=False)],
    flow: Annotated[str | None, typer.Option("--flow", metavar="FLOW", show_default="the table's flow",
                                             help="installed-app or device-code.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    from mailbridge.oauth import flows, token_file

    loaded = config_or_exit(config, need_secrets=True)
    client = loaded.oauth_client(name)
    if client is None:
        known = ", ".join(c.name for c in loaded.oauth) or "none"
        fail(f"no [[oauth]] table named {name!r} in {loaded.source} (oauth: {known})")
    chosen = flow or client.login_flow
    if chosen not in ("installed-app", "device-code"):
        raise typer.BadParameter("must be installed-app or device-code", param_hint="--flow")
    run = flows.installed_app if chosen == "installed-app" else flows.device_code
    try:
        tokens = run(client, lambda line: typer.echo(line, err=True))
    except flows.OAuthError as error:
        fail(str(error))
    path = loaded.oauth_dir / f"{name}.json"
    token_file.write(path, tokens)
    if as_json:
        print_json({"oauth": name, "flow": chosen, "token_file": str(path), "scope": tokens.scope})
    else:
        typer.echo(f"consent given: the refresh token of {name} is kept in {path} (mode 0600; state_dir from "
                   f"{state_dir_origin(loaded)})")
