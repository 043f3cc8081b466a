"""Config tables built lazily (mailbridge.config.tables): defaults and errors as if validated."""

from __future__ import annotations

import pytest

from mailbridge.config import Config
from mailbridge.config.classify import DEFAULT_RULES
from mailbridge.config.sla import DEFAULT_DEADLINES, DEFAULT_POLICIES
from mailbridge.config.tables import Table

SECTIONS = [field.default_factory for field in Config.model_fields.values()
            if getattr(field.default_factory, "__qualname__", "").startswith("defaults(")]


def _models(cls=Table):
    for sub in cls.__subclasses__():
        yield sub
        yield from _models(sub)


@pytest.mark.parametrize("factory", SECTIONS, ids=lambda f: f.__qualname__)
def test_a_default_section_equals_the_validated_one(factory):
    made = factory()
    validated = type(made)()
    assert made == validated and made.model_fields_set == validated.model_fields_set


@pytest.mark.parametrize("default", [*DEFAULT_RULES, *DEFAULT_POLICIES, *DEFAULT_DEADLINES.values()], ids=repr)
def test_an_embedded_default_equals_its_validated_twin(default):
    validated = type(default).model_validate(default.model_dump(exclude_unset=True))
    assert default == validated and default.model_fields_set == validated.model_fields_set


def test_a_section_error_keeps_its_path_and_message():
    with pytest.raises(Exception) as raised:
        Config.model_validate({"queues": [{"name": "q", "address": "q@example.com", "code_prefix": "QQ"}],
                               "outbox": {"relay_port": 0, "relay_hots": "x"}, "imap": [{"name": "a"}]})
    locs = [error["loc"] for error in raised.value.errors()]
    assert ("outbox", "relay_port") in locs and ("outbox", "relay_hots") in locs and ("imap", 0, "host") in locs


def test_modules_that_define_tables_have_real_annotations():
    # String annotations are compiled and evaluated when each table class is made (see
    # mailbridge.config.tables); the modules that define tables keep them real objects.
    import sys

    modules = {sys.modules[model.__module__] for model in _models() if model.__module__.startswith("mailbridge.")}
    assert len(modules) > 10
    for module in modules:
        if module.__name__ != "mailbridge.config.tables":
            assert "annotations" not in vars(module), module.__name__
