"""A typer command group that imports a command's module only when that command is used.

Importing every command module up front made each start of the CLI pay for all of them
(SQLAlchemy, alembic, the pipeline, httpx: most of a second) even for `mailbridge parse`,
which needs none. The group knows its commands from a table (`Entry`: the modules that
define a command, its help panel and its one-line summary), so `mailbridge --help` lists
them without importing any, and `mailbridge NAME ...` imports only NAME's modules.

This is click's "lazily loading subcommands" pattern on typer's group class. The modules
still register their commands with typer's decorators; `load` turns what they registered
into the click command.
"""

from __future__ import annotations

from difflib import get_close_matches
from importlib import import_module
from typing import NamedTuple

from typer import TyperException
from typer.core import TyperCommand, TyperGroup


class Entry(NamedTuple):
    """One top-level command as `mailbridge --help` lists it, and where its code lives."""

    modules: tuple[str, ...]
    panel: str
    summary: str


class LazyGroup(TyperGroup):
    """A group whose commands are in `entries`, each imported the first time it is used.

    Subclasses set `package` (where the modules are), `entries`, and `load`, which returns the
    command `name` once its modules are imported. Listing the commands (the group's help) never
    imports: it shows a stand-in with the entry's summary and panel, which a test keeps equal
    to the real command's.
    """

    package = ""
    entries: dict[str, Entry] = {}

    def __init__(self, **attrs) -> None:
        super().__init__(**attrs)
        self._listing = False

    @classmethod
    def import_modules(cls, name: str) -> None:
        """Import the modules of the command `name`."""
        for module in cls.entries[name].modules:
            import_module(f"{cls.package}.{module}")

    def load(self, name: str) -> TyperCommand | TyperGroup | None:
        """The command `name`, its modules imported."""
        raise NotImplementedError

    def list_commands(self, ctx) -> list[str]:
        # The table's order is the order of `--help`; anything registered outside it comes last.
        return [*self.entries, *(name for name in self.commands if name not in self.entries)]

    def get_command(self, ctx, cmd_name: str):
        entry = self.entries.get(cmd_name)
        if entry is None:
            return self.commands.get(cmd_name)
        if self._listing:
            return TyperCommand(name=cmd_name, help=entry.summary, rich_help_panel=entry.panel)
        if cmd_name not in self.commands:
            self.import_modules(cmd_name)
            self.commands[cmd_name] = self.load(cmd_name)
        return self.commands[cmd_name]

    def resolve_command(self, ctx, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except TyperException as error:
            # typer suggests a near name ("Did you mean 'tickets'?") among the commands imported
            # so far, which is none of them: the table's names are offered instead.
            message = getattr(error, "message", None)
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and isinstance(message, str) and "Did you mean" not in message:
                error.message = f"{message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise

    def format_help(self, ctx, formatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
