"""Mail templates: jinja2 files per kind and language, overridable per queue, checked before use.

A `.txt` template's first line is the subject, then a blank line, then the body; an optional
`.html` beside it (same name, same folder) adds an HTML alternative. `<kind>.<queue>.<lang>.txt` overrides `<kind>.<lang>.txt`
for one queue, and `[outbox] templates_dir` is searched before the bundled `templates/` folder.
Undefined variables are errors (`StrictUndefined`), so `check_templates` renders every template
a queue can use with sample values and a broken one is found by `check-config`, not by a customer.
A process finds and compiles each template once, so a changed template is used after a restart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    TemplatesNotFound,
)

from mailbridge.config.models import Config, QueueConfig

# The repository's `templates/` folder, used when running from a checkout (or an editable install).
CHECKOUT_DIR = Path(__file__).resolve().parents[2] / "templates"
KINDS = ("ack", "ack_phone", "resolved", "closed", "reopened", "agent_new", "agent_reply", "deadline_warning",
         "agent_answered", "agent_not_relayed", "agent_command_error", "phone_reminder", "status_reply", "escalation")
# The `escalation.*` variables: set in escalation mail, empty in every other kind.
NO_ESCALATION = {"ladder": "", "step": "", "waiting": "", "late": "", "due": "", "alerted": "", "agent": ""}


class TemplateProblem(ValueError):
    """A template cannot be used; the message names the file and says why, in one line."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered mail: one-line subject, plain-text body, optional HTML body."""

    subject: str
    text: str
    html: str | None


class _Environment(Environment):
    """A jinja environment that reads `ticket.code` from the dicts our templates are given key first.

    Jinja tries the attribute first and the key after it: for a dict, the attribute lookup fails
    with an exception each time, which was several times the cost of the lookup. A key has the
    same value either way (none of the variables is named like a dict method); anything else is
    looked up as jinja does.
    """

    def getattr(self, obj: object, attribute: str) -> object:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def make_globals(self, d: MutableMapping[str, object] | None) -> MutableMapping[str, object]:
        """A template's globals as one plain dict of the same names and values, not jinja's ChainMap.

        Every render copies its template's globals into the new context, twice: from a ChainMap,
        in Python, that was two thirds of rendering a mail. The environment's globals are never
        changed after it is made, so a copy taken when a template is loaded stays what it would see.
        """
        return {**self.globals, **(d or {})}


class Templates:
    """The template folders of one config, with a text and an (autoescaping) HTML environment."""

    def __init__(self, directories: Sequence[Path]) -> None:
        loader = FileSystemLoader([str(d) for d in directories])
        self._text = _Environment(loader=loader, undefined=StrictUndefined, autoescape=False,
                                  keep_trailing_newline=True)
        self._html = _Environment(loader=loader, undefined=StrictUndefined, autoescape=True)
        # The template chosen for each list of names, and the HTML beside each, found once:
        # searching the folders for every mail cost a failed lookup and a stat per file. Like the
        # config they are read when the process starts (`check_templates` checks them then), so a
        # changed file is seen after a restart.
        self._chosen: dict[tuple[str, ...], Template] = {}
        self._beside: dict[tuple[str, str | None], Template | None] = {}

    def render(self, kind: str, queue: str, language: str, context: Mapping) -> Rendered:
        """Render one kind for one queue and language; raises TemplateProblem."""
        names = (f"{kind}.{queue}.{language}.txt", f"{kind}.{language}.txt")
        name = names[-1]
        try:
            template = self._choose(names)
            name = template.name or name
            subject, text = split_subject(template.render(context), name)
            html = self._html_beside(name, template.filename)
            html_text = html.render(context) if html is not None else None
        except TemplatesNotFound:
            raise TemplateProblem(f"no template {names[-1]} (nor {names[0]})") from None
        except TemplateSyntaxError as error:
            raise TemplateProblem(f"{error.name or error.filename} line {error.lineno}: {error.message}") from None
        except TemplateError as error:
            raise TemplateProblem(f"{name}: {error.message or error}") from None
        return Rendered(subject, text, html_text)

    def _choose(self, names: tuple[str, ...]) -> Template:
        """The first of `names` that exists."""
        if names not in self._chosen:
            self._chosen[names] = self._text.select_template(names)
        return self._chosen[names]

    def _html_beside(self, text_name: str, text_file: str | None) -> Template | None:
        """The HTML beside the chosen text template (same name and folder), so the two always agree."""
        key = (text_name, text_file)
        if key not in self._beside:
            self._beside[key] = self._find_html(text_name, text_file)
        return self._beside[key]

    def _find_html(self, text_name: str, text_file: str | None) -> Template | None:
        try:
            template = self._html.get_template(text_name.removesuffix(".txt") + ".html")
        except TemplateNotFound:
            return None
        if text_file is None or Path(template.filename or "").parent != Path(text_file).parent:
            return None
        return template


def split_subject(rendered: str, name: str | None) -> tuple[str, str]:
    """The first line (as one clean line) and the body after the blank line that must follow it."""
    first, newline, rest = rendered.partition("\n")
    blank, _, body = rest.partition("\n")
    if not newline or blank.strip():
        raise TemplateProblem(f"{name}: the first line is the subject and the second must be blank")
    subject = " ".join(first.split())
    if not subject:
        raise TemplateProblem(f"{name}: the subject line renders empty")
    return subject, body


def templates_for(config: Config) -> Templates:
    """The templates of this config: its own folder (if set) before the bundled one."""
    own = config.outbox.templates_dir
    return _templates((Path(own),) if own else ())


@cache
def _templates(own: tuple[Path, ...]) -> Templates:
    # One environment per set of folders, so jinja's compiled-template cache is kept across mails.
    return Templates([*own, bundled_dir()])


def bundled_dir() -> Path:
    """The templates that come with mailbridge: package data when installed, else the checkout's folder.

    A wheel installs `templates/` as `mailbridge/bundled_templates` (see pyproject.toml); a
    checkout has only the folder at the repository root.
    """
    installed = Path(str(resources.files("mailbridge") / "bundled_templates"))
    return installed if installed.is_dir() else CHECKOUT_DIR


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
# The one variable that is several lines by nature; every other value from mail is flattened.
_MULTILINE = frozenset({"text"})


def one_line(value: str) -> str:
    """A value from mail as one line: control characters (CR, LF, NUL…) become spaces."""
    # Most values are one line already. A printable string's only whitespace is the ASCII space
    # (control characters and every other space are not printable), so with no run of spaces and
    # none at either end it is what the line below would return.
    if value and value.isprintable() and "  " not in value and value[0] != " " and value[-1] != " ":
        return value
    return " ".join(_CONTROL.sub(" ", value or "").split())


def mail_context(*, ticket: Mapping, queue: QueueConfig, customer: Mapping, message: Mapping,
                 reopen_window_days: int, owner: str = "", extra: Mapping | None = None,
                 escalation: Mapping | None = None) -> dict:
    """The variables every template sees (documented in templates/README.md).

    Values that came from mail are flattened to one line: a subject or name carrying an encoded
    CR or LF must not break the template's subject line, nor any header made from it.
    """
    return {
        "escalation": {**NO_ESCALATION, **(escalation or {})},
        "ticket": _flattened({"owner": owner, **ticket}),
        "extra": _flattened(extra or {}),
        "queue": {"name": queue.name, "label": queue.label, "address": queue.address},
        "customer": _flattened(customer),
        "message": _flattened(message),
        "reopen_window_days": reopen_window_days,
    }


def _flattened(values: Mapping) -> dict:
    return {key: one_line(value) if isinstance(value, str) and key not in _MULTILINE else value
            for key, value in values.items()}


def sample_context(queue: QueueConfig, config: Config) -> dict:
    """Made-up values with every variable set, for checking templates before any mail exists."""
    return mail_context(
        ticket={"code": f"{queue.code_prefix}-000123", "subject": "Sample subject", "status": "open",
                "received": "Friday 20 Nov 2026 21:14", "counts_from": "Monday 23 Nov 2026 09:00",
                "answer_by": "Monday 23 Nov 2026 11:00", "priority": "routine", "type": "petition",
                "around_the_clock": True, "on_call": True,
                "deadline": "Monday 14 Dec 2026 17:00", "deadline_left": "16h00m",
                "confirm_by": "Monday 23 Nov 2026 17:00"},
        queue=queue,
        customer={"name": "Sample Customer", "address": "customer@example.org"},
        message={"sender": "customer@example.org", "sender_name": "Sample Customer",
                 "subject": "Sample subject", "text": "Sample text.",
                 "attachments": [{"name": "invoice.pdf", "size": "120 KB"}]},
        reopen_window_days=config.threading.reopen_window_days,
        owner="agent@example.org",
        extra={"reason": "no-proof", "authserv_id": "mx.example.org", "domain": "example.org", "line": "#sample", "commands": ["#note   (#notatka, #nota)"],
               "agent": "agent@example.org", "confirm_by": "Monday 23 Nov 2026 17:00"},
        escalation={"ladder": "urgent", "step": "1", "waiting": "2h05m", "late": "5m",
                    "due": "Monday 23 Nov 2026 11:00", "alerted": "anna.agent@example.com, +48600100200",
                    "agent": "yes"},
    )


def check_templates(config: Config) -> list[str]:
    """One line per problem with a template any queue would use (empty when all render)."""
    templates = templates_for(config)
    problems: list[str] = []
    for queue in config.queues:
        context = sample_context(queue, config)
        for language in dict.fromkeys((queue.language, *queue.languages)):
            for kind in KINDS:
                try:
                    templates.render(kind, queue.name, language, context)
                except TemplateProblem as problem:
                    line = f"templates: {problem}"
                    if line not in problems:
                        problems.append(line)
    return problems
