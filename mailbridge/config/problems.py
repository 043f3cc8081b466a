"""Turn pydantic and TOML errors into one line each: `queues[2].address: not an email address`."""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, get_origin

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

# pydantic is imported only where a validation error is explained: reading the file
# (`mailbridge.config.source`) uses `format_loc` and `toml_problem` without it.

# pydantic's messages read "Input should be a valid string"; an operator reads "must be a string".
_MESSAGES = {
    "missing": "required key is missing",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
}


def format_loc(loc: tuple[str | int, ...]) -> str:
    """('queues', 2, 'address') → 'queues[2].address'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validation_problems(
    exc: ValidationError, root: type[BaseModel], reported: frozenset[str] = frozenset()
) -> list[str]:
    """One line per pydantic error, named by its TOML path; paths in `reported` are skipped."""
    errors = exc.errors()
    locs = [tuple(error["loc"]) for error in errors]
    lines = []
    for error, loc in zip(errors, locs, strict=True):
        where = format_loc(loc) or "(top level)"
        # A list whose items failed is also reported as too short; the items say more.
        deeper = any(other[: len(loc)] == loc and len(other) > len(loc) for other in locs)
        if where not in reported and not deeper:
            lines.append(f"{where}: {_message(error, root)}")
    return lines


def _message(error: dict, root: type[BaseModel]) -> str:
    kind = error["type"]
    if tuple(error["loc"]) == ("queues",) and kind in ("missing", "too_short"):
        return "at least one [[queues]] table is needed"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "extra_forbidden":
        return "unknown key" + _suggestion(tuple(error["loc"]), root)
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    message = str(error["msg"])
    message = message.replace("Input should be", "must be").replace("List should", "must")
    return message[0].lower() + message[1:] if message else kind


def _suggestion(loc: tuple[str | int, ...], root: type[BaseModel]) -> str:
    """' (did you mean 'aliases'?)' when an unknown key looks like a misspelt known one."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field else None
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The model class of a field typed `Model` or `tuple[Model, ...]` (each maybe `Annotated`)."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if get_origin(arg) is Annotated:  # a section validated by its own model (config/tables.py)
            arg = arg.__origin__
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def toml_problem(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """`mailbridge.toml line 12: expected '=' after a key…` from tomllib's message."""
    message = str(exc)
    match = re.match(r"(.*) \(at line (\d+), column (\d+)\)$", message)
    if match:
        text, line, column = match.groups()
        return f"{path} line {line}: {text[0].lower()}{text[1:]} (column {column})"
    match = re.match(r"(.*) \(at end of document\)$", message)
    if match:
        text = match.group(1)
        return f"{path} at the end: {text[0].lower()}{text[1:]}"
    return f"{path}: {message}"
