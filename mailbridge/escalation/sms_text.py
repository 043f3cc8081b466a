"""The text of an escalation SMS: `sms_escalation.<lang>.txt` (per queue: `sms_escalation.<queue>.<lang>.txt`).

Rendered from the same template folders as mail (`[outbox] templates_dir` first, then the bundled
ones) with the variables mail templates have, as one line, then fitted into `[sms] max_segments`
(see `sms.text`). The bundled texts avoid letters outside GSM-7, so they fit 160 characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplatesNotFound

from mailbridge.config.models import Config, QueueConfig
from mailbridge.escalation.sms import render as provider_templates
from mailbridge.escalation.sms.text import fit
from mailbridge.outgoing.templates import bundled_dir, sample_context

KIND = "sms_escalation"


class SmsTemplateProblem(ValueError):
    """An SMS template that cannot be used, in one line naming its file."""


@cache
def _environment(own: tuple[Path, ...]) -> Environment:
    loader = FileSystemLoader([str(d) for d in (*own, bundled_dir())])
    return Environment(loader=loader, undefined=StrictUndefined, autoescape=False)


def render(config: Config, queue: QueueConfig, language: str, context: Mapping) -> str:
    """The SMS text for this queue and language, fitted to the configured segments."""
    own = config.outbox.templates_dir
    names = [f"{KIND}.{queue.name}.{language}.txt", f"{KIND}.{language}.txt"]
    try:
        text = _environment((Path(own),) if own else ()).select_template(names).render(context)
    except TemplatesNotFound:
        raise SmsTemplateProblem(f"no template {names[-1]} (nor {names[0]})") from None
    except TemplateError as error:
        raise SmsTemplateProblem(f"{names[-1]}: {error}") from None
    return fit(text, max_segments=config.sms.max_segments, transliterated=config.sms.transliterate)


def check_sms_templates(config: Config) -> list[str]:
    """One line per SMS template that would fail: the provider's request templates, and the texts
    each queue would use (when ladders exist)."""
    problems = _provider_problems(config)
    if not config.escalation.ladders:
        return problems
    for queue in config.queues:
        for language in dict.fromkeys((queue.language, *queue.languages)):
            try:
                render(config, queue, language, sample_context(queue, config))
            except SmsTemplateProblem as problem:
                line = f"templates: {problem}"
                if line not in problems:
                    problems.append(line)
    return problems


def _provider_problems(config: Config) -> list[str]:
    """The `[sms.http]` or `[sms.command]` templates of the chosen provider that do not render."""
    sms = config.sms
    if sms.provider == "http":
        parts = {"sms.http.url": sms.http.url, **{f"sms.http.headers.{k}": v for k, v in sms.http.headers.items()},
                 **{f"sms.http.form.{k}": v for k, v in sms.http.form.items()},
                 **{f"sms.http.json_body.{k}": v for k, v in sms.http.json_body.items()}}
    elif sms.provider == "command":
        parts = {f"sms.command.argv[{i}]": v for i, v in enumerate(sms.command.argv)}
    else:
        return []
    return [f"{where}: {problem}" for where, source in parts.items()
            if (problem := provider_templates.check(source)) is not None]
