"""`mailbridge tickets priority|type CODE VALUE`: agents correct a ticket's classification."""

from typing import Annotated

import typer

from mailbridge import clocks
from mailbridge.cli.clock_options import NowOption, now_from
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, database, fail, print_json
from mailbridge.cli.tickets_cmd import tickets_app
from mailbridge.config.classify import PRIORITIES, TYPES
from mailbridge.errors import MailbridgeError

SET_HELP = """Set ticket CODE's {field} ({values}); its SLA clocks follow the policy that now applies.

Example:  mailbridge tickets {field} DYN-000123 {example}
"""


def _set_command(field: str, values: tuple[str, ...], example: str) -> None:
    def check(value: str) -> str:
        if value not in values:
            raise typer.BadParameter(f"must be one of {', '.join(values)}")
        return value

    @tickets_app.command(field, help=SET_HELP.format(field=field, values=", ".join(values), example=example))
    def command(
        code: Annotated[str, typer.Argument(help="The ticket code, e.g. DYN-000123.", show_default=False)],
        value: Annotated[str, typer.Argument(help=f"The new {field}.", callback=check, show_default=False)],
        now: NowOption = None,
        as_json: JsonOption = False,
        config: ConfigOption = None,
    ) -> None:
        loaded = config_or_exit(config)
        with database(loaded) as db:
            try:
                ticket_code, before = clocks.set_classification(code, field, value, db=db, config=loaded,
                                                                now=now_from(now))
            except MailbridgeError as error:
                fail(str(error))
        if as_json:
            print_json({"ticket": ticket_code, "field": field, "before": before, "after": value})
        else:
            typer.echo(f"{ticket_code} {field}: {before} -> {value}")


_set_command("priority", PRIORITIES, "critical")
_set_command("type", TYPES, "petition")
