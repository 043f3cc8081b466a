"""The base of every config table, and sections validated only when the file has them.

Building pydantic's validators was most of what loading the config cost, and a file has a few
of its twenty-odd tables: `mailbridge tickets list` spent about a third of its start building
validators for tables the file did not have (issue 17). So:

- a table's validator is built the first time a table of its kind is read (`defer_build`);
- a section field (`Annotated[OutboxSection, OWN]`) does not put the section's schema into its
  parent's: the section is validated by its own model, and its errors reach the parent with the
  same paths and messages as a nested model's;
- an absent section gets its defaults without validation (`defaults`), as pydantic never
  validates defaults anyway; tests/test_config_tables.py keeps each such default equal to the
  validated one.

The modules that define tables leave out `from __future__ import annotations`: with it every
field's annotation is a string that pydantic compiles and evaluates when the class is made, 2 %
of `mailbridge tickets list` (issue 17). A validator's return annotation naming its own class
is quoted instead; tests/test_config_tables.py keeps the future import out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import core_schema

T = TypeVar("T", bound=BaseModel)


class Table(BaseModel):
    """A config table: immutable, and a misspelt key is a problem rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _OwnValidator:
    """`Annotated` metadata: the field's table is validated by its own model, built when first needed."""

    def __get_pydantic_core_schema__(self, source: type[BaseModel], handler: GetCoreSchemaHandler) -> Any:
        def validate(value: object, info: core_schema.ValidationInfo) -> BaseModel:
            return source.model_validate(value, context=info.context)

        return core_schema.with_info_plain_validator_function(validate)

    def __repr__(self) -> str:
        return "OWN"


OWN = _OwnValidator()


def defaults(model: type[T]) -> Callable[[], T]:
    """A `default_factory` for a section: its defaults, without building its validator."""

    def table() -> T:
        return model.model_construct()

    table.__qualname__ = f"defaults({model.__name__})"
    return table
