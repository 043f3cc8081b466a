"""Values of a provider's request templates (`{{ sms.to }}`, `{{ sms.text }}`...): small jinja2 strings."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, StrictUndefined, Template, TemplateError

from mailbridge.escalation.sms.base import Outgoing, Permanent


@cache
def _template(source: str) -> Template:
    return Environment(undefined=StrictUndefined, autoescape=False).from_string(source)


def variables(message: Outgoing, sender: str = "") -> dict:
    """What a template may use: `sms.to` (E.164), `sms.to_digits` (without +), `sms.text`, `sms.id`..."""
    return {"sms": {"to": message.to, "to_digits": message.to.lstrip("+"), "text": message.text,
                    "id": message.key, "ticket": message.ticket, "step": message.step, "sender": sender}}


def render(source: str, values: dict) -> str:
    try:
        return _template(source).render(values)
    except TemplateError as error:
        raise Permanent(f"template {source!r}: {error}") from None


def check(source: str) -> str | None:
    """A problem with a template (syntax or unknown variable), or None."""
    sample = Outgoing("sample-key", "+48600100200", "sample", "DYN-000123", "critical#0")
    try:
        _template(source).render(variables(sample, "sender"))
    except TemplateError as error:
        return str(error)
    return None
