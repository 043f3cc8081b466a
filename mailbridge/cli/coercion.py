"""Plain parameter values (str, bool, int, Path, lists of them) converted without pydantic.

typer 0.29 converts every parameter's value with a pydantic `TypeAdapter` built on first use,
so even `mailbridge parse FILE` imported pydantic and built adapters: about 40 % of its start
(issue 17). For the annotations our commands use, the common case needs no pydantic: a string
stays a string, `"yes"` is True, `"12"` is 12, a path is a `Path` checked by typer's own path
checks. `install` gives each such parameter a converter that does exactly that and hands every
other value, and every error, to typer's own converter, so the values and the messages are
typer's. tests/test_cli_coercion.py checks both against typer's for a table of inputs.

This leans on typer internals (`_TyperParameter._runtime_param`, `typer._coercion.RuntimeParam`,
`typer._param_types.coerce_cli_path`). Only the typer versions in `TESTED_TYPER` are touched, and
a parameter whose internals or annotation are not as expected keeps typer's converter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, get_args, get_origin

# The minor versions whose conversions tests/test_cli_coercion.py compared with ours.
TESTED_TYPER = ("0.29.",)
# Pydantic's own words for booleans (any case, surrounding blanks ignored).
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "f", "false", "n", "no", "off"})
# Decimal integers that pydantic and int() read alike; "1_000", "1.0" or " 4" are left to typer.
_INT = re.compile(r"[+-]?[0-9]{1,18}")


class _Unsure(Exception):
    """This value is typer's to convert (an unusual value, or an error to report)."""


def _as_str(value: Any) -> str:
    if type(value) is str:
        return value
    raise _Unsure


def _as_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str:
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _Unsure


def _as_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is str and _INT.fullmatch(value):
        return int(value)
    raise _Unsure


_PLAIN = {str: _as_str, bool: _as_bool, int: _as_int}


def install(command: Any, ctx: Any) -> None:
    """Give the plain parameters of `command` (and of its subcommands) the quick converter.

    `ctx` is the context `command` runs in: its `--help` option is made from it (click makes
    that option on first use, with the names the context gives).
    """
    internals = _typer_internals()
    if internals is None:
        return
    for param in command.get_params(ctx):
        _install_on(param, internals)
    for name, sub in getattr(command, "commands", {}).items():
        install(sub, child_context(sub, name, ctx))


def child_context(command: Any, name: str, parent: Any) -> Any:
    """The context click will give `command` run as `name` under `parent` (its args unparsed)."""
    return command.context_class(command, info_name=name, parent=parent, **command.context_settings)


@cache
def _typer_internals() -> tuple[type, type, Any] | None:
    """typer's parameter class, its converter base class and its path check, if as expected."""
    try:
        import typer
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
        from typer.core import _TyperParameter
    except ImportError:
        return None
    if not typer.__version__.startswith(TESTED_TYPER):
        return None
    if not (hasattr(_TyperParameter, "get_runtime_param") and hasattr(RuntimeParam, "_coerce_value")):
        return None
    return _TyperParameter, _converter_class(RuntimeParam, build_runtime_param), coerce_cli_path


def _install_on(param: Any, internals: tuple[type, type, Any]) -> None:
    typer_parameter, converter_class, check_path = internals
    if not isinstance(param, typer_parameter) or getattr(param, "_runtime_param", False) is not None:
        return  # not typer's, or its converter is already built
    descriptor = getattr(param, "type_descriptor", None)
    info = getattr(descriptor, "parameter_info", None)
    if descriptor is None or info is None or getattr(descriptor, "file_annotation", True) is not None:
        return
    convert = _converter_for(descriptor.annotation, info, check_path)
    if convert is not None:
        param._runtime_param = converter_class(parameter_info=info, annotation=descriptor.annotation,
                                               convert=convert)


def _converter_for(annotation: Any, info: Any, check_path: Any):
    """A function value → converted value (raising `_Unsure`), or None to leave it all to typer."""
    if getattr(info, "parser", True) is not None or getattr(info, "clamp", True):
        return None  # typer's parser, or an attribute we do not know
    bounds = getattr(info, "min", True), getattr(info, "max", True)
    if bounds != (None, None):
        return _int_within(*bounds) if annotation is int and all(_is_int_or_none(b) for b in bounds) else None
    if getattr(info, "path_type", True) is not None:
        return None
    if get_origin(annotation) is list:
        items = get_args(annotation)
        convert_item = _converter_for(items[0], info, check_path) if len(items) == 1 else None
        return None if convert_item is None else _list_of(convert_item)
    if annotation is Path:
        return _path(info, check_path)
    return _PLAIN.get(annotation) if type(annotation) is type else None


def _is_int_or_none(bound: Any) -> bool:
    return bound is None or type(bound) is int


def _int_within(low: int | None, high: int | None):
    # A number out of bounds is typer's to refuse, in its words.
    def convert(value: Any) -> int:
        number = _as_int(value)
        if (low is not None and number < low) or (high is not None and number > high):
            raise _Unsure
        return number

    return convert


def _list_of(convert_item):
    def convert(value: Any) -> list:
        if not isinstance(value, (list, tuple)):
            raise _Unsure
        return [convert_item(item) for item in value]

    return convert


def _path(info: Any, check_path: Any):
    def convert(value: Any) -> Any:
        if type(value) is str and value and "\0" not in value:
            value = Path(value)
        elif not isinstance(value, Path):
            raise _Unsure
        try:
            # typer's own checks (exists, file_okay, dir_okay, ...), given the Path pydantic would make.
            return check_path(value, info, path_type=Path)
        except Exception:  # noqa: BLE001 - typer says what is wrong, in its own words.
            raise _Unsure from None

    return convert


def _converter_class(runtime_param: type, build_runtime_param: Any) -> type:
    """A subclass of typer's converter: typer's handling of None and lists, our conversion."""

    @dataclass(frozen=True)
    class QuickRuntimeParam(runtime_param):
        convert: Any = None
        _typer_own: list = field(default_factory=list, compare=False, repr=False)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self.convert(value)
            except _Unsure:
                return self._fallback(param)._coerce_value(value, param=param, ctx=ctx)

        def _fallback(self, param: Any) -> Any:
            if not self._typer_own:
                self._typer_own.append(build_runtime_param(param.type_descriptor))
            return self._typer_own[0]

    return QuickRuntimeParam
