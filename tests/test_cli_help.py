"""`--help` of every command teaches: a one-line summary, a paragraph, examples, options with defaults."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from mailbridge.cli import COMMANDS as TABLE_OF_CONTENTS
from mailbridge.cli import _register, app

_register()
ROOT = typer.main.get_command(app)
GROUPS = ["tickets", "quarantine", "outbox", "db", "imap", "calendar"]
# The command lists show a summary on one line at 80 columns only when it is this short.
MAX_SUMMARY = 60


def _walk(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


COMMANDS = dict(_walk(ROOT))


def _help(path: tuple[str, ...], columns: int = 80):
    return CliRunner(env={"COLUMNS": str(columns)}).invoke(app, [*path, "--help"])


def _summary(command) -> str:
    """The first paragraph of the help, as printed (Markdown's backticks are not)."""
    return command.help.split("\n\n", 1)[0].replace("`", "")


def _id(path: tuple[str, ...]) -> str:
    return " ".join(path) or "mailbridge"


def test_every_command_of_the_documented_interface_is_there() -> None:
    names = {" ".join(path) for path in COMMANDS}
    expected = {"serve", "check-config", "parse", "ingest", "explain", "db upgrade", "tickets list",
                "tickets show", "quarantine list", "quarantine retry", "outbox list", "imap check", "calendar show"}
    assert expected <= names


@pytest.mark.parametrize("path", list(COMMANDS), ids=_id)
def test_help_has_a_one_line_summary_a_paragraph_and_examples(path) -> None:
    command = COMMANDS[path]
    result = _help(path)
    assert result.exit_code == 0, result.output
    summary = _summary(command)
    assert "\n" not in summary and summary.endswith(".") and len(summary) <= MAX_SUMMARY, summary
    paragraphs = command.help.split("\n\n")
    assert len(paragraphs) >= 3, f"{_id(path)}: a summary, a paragraph and examples"
    out = result.stdout
    assert f"\n {summary}" in out, "the summary is printed whole, on one line"
    assert "Examples:" in out
    example = " ".join(("mailbridge", *path))
    assert any(line.strip().startswith(example) for line in out.splitlines()), f"no example of {example}"
    assert max(len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize("path", [p for p, c in COMMANDS.items() if getattr(c, "commands", None)], ids=_id)
def test_command_lists_show_each_summary_on_one_line(path) -> None:
    lines = _help(path).stdout.splitlines()
    for name, sub in COMMANDS[path].commands.items():
        assert any(name in line and _summary(sub) in line for line in lines), f"{name}: summary wrapped"


@pytest.mark.parametrize("path", list(COMMANDS), ids=_id)
def test_every_parameter_has_help_and_every_value_option_its_default(path) -> None:
    command = COMMANDS[path]
    params = [p for p in command.params if p.name != "help"]
    for param in params:
        assert param.help, f"{_id(path)} {param.name}: no help"
    value_options = [p for p in params if p.param_type_name == "option" and not p.is_flag and not p.required]
    out = " ".join(_help(path, columns=200).stdout.split())
    assert out.count("[default: ") >= len(value_options), f"{_id(path)}: a default is not shown"


@pytest.mark.parametrize("group", ["", *GROUPS])
def test_a_group_without_a_command_prints_its_help_with_usage_status_2(group) -> None:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, [group] if group else [])
    assert result.exit_code == 2
    assert "Usage: mailbridge" in result.stdout and "Examples:" in result.stdout


def test_names_in_brackets_survive_the_markup() -> None:
    # Rich markup would eat `[imap]` and Markdown an `<name>`: both are in backticks.
    assert "[[imap]]" in _help(("imap", "check")).stdout
    assert "[calendars.<name>]" in _help(("calendar", "show")).stdout


def test_wrapped_source_paragraphs_are_reflowed_to_the_width() -> None:
    # The help texts are wrapped in the source at ~100 columns; at 120 columns a paragraph must
    # fill the lines instead of breaking where the source did.
    out = _help(("ingest",), columns=120).stdout
    assert "a Maildir folder (with new/ and cur/), or a folder of .eml files." in " ".join(out.split())
    wide = [line for line in out.splitlines() if len(line.rstrip()) > 100]
    assert wide, "no line uses the width"


def test_usage_errors_exit_2_and_name_the_argument() -> None:
    result = CliRunner().invoke(app, ["tickets", "show"])
    assert result.exit_code == 2
    assert "Missing argument 'CODE'" in result.output


def test_the_table_of_contents_matches_each_command():
    # `mailbridge --help` lists the commands from `COMMANDS` without importing them (see
    # mailbridge.cli.lazy): each entry must say what the command's own help says, in its panel.
    assert set(TABLE_OF_CONTENTS) == set(ROOT.commands)
    for name, entry in TABLE_OF_CONTENTS.items():
        command = ROOT.commands[name]
        assert entry.summary == command.help.split("\n\n", 1)[0], name
        assert entry.panel == command.rich_help_panel, name
