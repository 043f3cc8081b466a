"""Our quick conversion of plain parameter values gives typer's values and typer's error messages.

mailbridge.cli.coercion converts str, bool, int, Path and lists of them without pydantic and
leaves everything else to typer; each parameter below is built twice, once as typer makes it and
once with our converter installed, and every input must come out of both alike.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer._click.exceptions import BadParameter

from mailbridge.cli import coercion

INTS = ["5", "007", "-3", "+3", "-0", " 4 ", "1_000", "1.0", "1.5", "", "x", "٣", "99999999999999999999999", 12,
        True, 2.0]
BOOLS = ["true", "True", " YES ", "y", "on", "1", "t", "false", "No", "off", "0", "f", "n", "", "2", "maybe", True,
         False, 1, 0]
STRS = ["text", "", " spaced ", "ünïcode", "-", b"bytes", 7]


def _parameters(tmp_path: Path):
    """(name, the typer function's parameter annotations, inputs)."""
    file = tmp_path / "file.txt"
    file.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    missing = tmp_path / "missing"
    paths = [str(file), str(folder), str(missing), file, "-", "", "a\0b"]
    return [
        ("text", str, STRS),
        ("maybe_text", str | None, [*STRS, None]),
        ("number", int, INTS),
        ("maybe_number", int | None, [*INTS, None]),
        ("at_least_one", Annotated[int, typer.Option(min=1)], ["1", "0", "-5", "200", 0, 3]),
        ("one_to_ten", Annotated[int, typer.Option(min=1, max=10)], ["1", "10", "11", "0", "x"]),
        ("clamped", Annotated[int, typer.Option(min=1, max=10, clamp=True)], ["0", "5", "11"]),
        ("flag", Annotated[bool, typer.Option("--flag/--no-flag")], BOOLS),
        ("path", Path, paths),
        ("maybe_path", Path | None, [*paths, None]),
        ("existing", Annotated[Path, typer.Option(exists=True)], paths),
        ("existing_file", Annotated[Path, typer.Option(exists=True, dir_okay=False)], paths),
        ("existing_dir", Annotated[Path, typer.Option(exists=True, file_okay=False)], paths),
        ("no_dir", Annotated[Path | None, typer.Option(dir_okay=False)], paths),
        ("dash", Annotated[Path, typer.Option(allow_dash=True, exists=True)], paths),
        ("files", Annotated[list[str], typer.Option()], [("a", "b"), (), ["c"], "single", ("a", 3)]),
        ("paths", Annotated[list[Path], typer.Option(exists=True)], [(str(file),), (str(file), str(missing))]),
        ("counts", Annotated[list[int], typer.Option()], [("1", "2"), ("1", "x"), ()]),
    ]


def _built(name: str, annotation, *, quick: bool):
    """The typer parameter `name` of a one-parameter command, with our converter or typer's, and its context."""
    app = typer.Typer()

    def command(**_: object) -> None:
        pass

    command.__signature__ = _signature(name, annotation)
    app.command()(command)
    click_command = typer.main.get_command(app)
    ctx = click_command.context_class(click_command, info_name="cmd")
    if quick:
        coercion.install(click_command, ctx)
    (param,) = (p for p in click_command.params if p.name == name)
    return param, ctx


def _signature(name: str, annotation) -> inspect.Signature:
    return inspect.Signature([inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                                annotation=annotation)])


def _outcome(param, ctx, value):
    try:
        result = param.get_runtime_param().coerce(value, param=param, ctx=ctx)
    except BadParameter as error:
        return "error", error.format_message()
    return "value", result, type(result), [type(item) for item in result] if isinstance(result, list) else None


def test_our_values_and_messages_are_typers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kinds = []
    for name, annotation, inputs in _parameters(tmp_path):
        ours, ours_ctx = _built(name, annotation, quick=True)
        theirs, theirs_ctx = _built(name, annotation, quick=False)
        for value in inputs:
            outcome = _outcome(ours, ours_ctx, value)
            assert outcome == _outcome(theirs, theirs_ctx, value), (name, value)
            kinds.append(outcome[0])
    assert kinds.count("value") > 80 and kinds.count("error") > 30, "both values and errors were compared"


@pytest.mark.parametrize("name", ["text", "maybe_text", "number", "at_least_one", "flag", "path", "existing_file",
                                  "files", "paths"])
def test_plain_parameters_get_our_converter(tmp_path, name):
    # On the typer versions it was checked against, the quick path is really taken: a typer
    # upgrade that changes the internals makes this fail rather than silently import pydantic again.
    annotation = dict((n, a) for n, a, _ in _parameters(tmp_path))[name]
    param, _ = _built(name, annotation, quick=True)
    assert type(param._runtime_param).__name__ == "QuickRuntimeParam"


@pytest.mark.parametrize("name", ["clamped"])
def test_other_parameters_keep_typers_converter(tmp_path, name):
    annotation = dict((n, a) for n, a, _ in _parameters(tmp_path))[name]
    param, _ = _built(name, annotation, quick=True)
    assert param._runtime_param is None


def test_an_untested_typer_version_keeps_typers_converters(tmp_path, monkeypatch):
    monkeypatch.setattr(typer, "__version__", "0.30.0")
    coercion._typer_internals.cache_clear()
    try:
        param, _ = _built("text", str, quick=True)
        assert param._runtime_param is None
    finally:
        monkeypatch.undo()
        coercion._typer_internals.cache_clear()
