"""`mailbridge sms test NUMBER`: send one SMS through the configured provider and print its answer."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from mailbridge.cli import SETUP_PANEL, group
from mailbridge.cli.common import ConfigOption, config_or_exit, fail
from mailbridge.config.escalation import e164
from mailbridge.escalation.sms.base import Outgoing, SmsError
from mailbridge.escalation.sms.choose import provider_for
from mailbridge.escalation.sms.text import fit, segments

sms_app = group("sms", """SMS for escalations: try the gateway of `[sms]`.

Examples:

    mailbridge sms test +48600100200
""", SETUP_PANEL)

TEST_HELP = """Send one SMS to NUMBER and print the gateway's answer.

It goes through the provider configured in `[sms]`.

Use it after setting up `[sms]` (for SMSAPI, `test = true` makes the gateway check the request
without sending or charging). The number is written in international form (+48 600 100 200).
The text is fitted like an escalation's (`max_segments`, `transliterate`). Exit 1 when the
gateway refuses or cannot be reached, with its answer.

Examples:

    mailbridge sms test +48600100200
    mailbridge sms test "+34 612 345 678" --text "Prueba de mailbridge"
"""


@sms_app.command("test", help=TEST_HELP)
def test_command(
    number: Annotated[str, typer.Argument(metavar="NUMBER", help="Where to, in international form.",
                                          show_default=False)],
    text: Annotated[str, typer.Option("--text", help="What to send.")] = "mailbridge: test SMS",
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    try:
        to = e164(number)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="NUMBER") from None
    body = fit(text, max_segments=loaded.sms.max_segments, transliterated=loaded.sms.transliterate)
    shape = segments(body)
    typer.echo(f"to {to} via {loaded.sms.provider}: {shape.count} segment(s), {shape.encoding}, {shape.units} units")
    try:
        receipt = provider_for(loaded).send(Outgoing(f"test:{uuid.uuid4().hex}", to, body))
    except SmsError as error:
        fail(f"{type(error).__name__.lower()} failure: {error}")
    typer.echo(f"sent: {receipt.answer}" + (f" (id {receipt.provider_id})" if receipt.provider_id else ""))
