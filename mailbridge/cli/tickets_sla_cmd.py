"""`mailbridge tickets priority|type CODE VALUE`: agents correct a ticket's classification."""

from typing import Annotated

import typer

from mailbridge.cli.clock_options import NowOption, now_from
from mailbridge.cli.config_options import ConfigOption, JsonOption, config_or_exit
from mailbridge.cli.output import fail, one_of, print_json
from mailbridge.cli.tickets_cmd import CodeArgument, tickets_app
from mailbridge.config.names import PRIORITIES, TYPES
from mailbridge.errors import MailbridgeError

SET_HELP = """Correct a ticket's {field}; its SLA clocks follow.

mailbridge guesses a ticket's {field} from its first mail ({why}); use this when the guess was
wrong. The {field} is one of: {values}. The change is recorded on the ticket and its clocks are
recomputed at once under the SLA policy that now applies, as of `--now`.

Examples:

    mailbridge tickets {field} DYN-000123 {example}
    mailbridge tickets {field} DYN-000123 {example} --json
"""

_WHY = {
    "priority": "the rules of the config and the queue's default",
    "type": "the rules of the config; petitions, complaints and claims have legal answer deadlines",
}


def _set_command(field: str, values: tuple[str, ...], example: str) -> None:
    text = SET_HELP.format(field=field, why=_WHY[field], values=", ".join(values), example=example)

    @tickets_app.command(field, help=text)
    def command(
        code: CodeArgument,
        value: Annotated[str, typer.Argument(help=f"The new {field}: {', '.join(values)}.", metavar="VALUE",
                                             callback=one_of(values), show_default=False)],
        now: NowOption = None,
        as_json: JsonOption = False,
        config: ConfigOption = None,
    ) -> None:
        from mailbridge.cli.common import database  # neither is imported by `tickets list` (see tickets_cmd)
        from mailbridge.sla import clocks

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
