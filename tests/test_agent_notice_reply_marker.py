"""Our notices to agents carry a "reply above this line" marker, and an agent's answer is cut there."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from mailbridge.parse.quotes import reply_part

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
CONTEXT = {
    "ticket": {"code": "DYN-000123", "subject": "Błąd płatności", "status": "open"},
    "queue": {"name": "dynamics", "label": "Dynamics", "address": "pomoc-dynamics@example.com"},
    "customer": {"name": "Jan Nowak", "address": "jan@firma.example.pl"},
    "message": {"sender": "jan@firma.example.pl", "sender_name": "Jan Nowak", "subject": "Błąd",
                "text": "Płatność nie przechodzi.\n\nOn Mon, Jan wrote:\n> old\n",
                "attachments": [{"name": "faktura.pdf", "size": "120 KB"}]},
}
NOTICES = [(kind, language) for kind in ("agent_new", "agent_reply") for language in ("en", "es", "pl")]


def notice_body(kind: str, language: str) -> str:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined)
    rendered = env.get_template(f"{kind}.{language}.txt").render(CONTEXT)
    return rendered.split("\n", 2)[2]


@pytest.mark.parametrize("kind, language", NOTICES)
def test_agent_notices_open_with_a_reply_above_marker(kind, language):
    first_line = notice_body(kind, language).lstrip("\n").split("\n", 1)[0]
    assert first_line.startswith("## ") and first_line.endswith(" ##")
    assert reply_part(f"Answer.\n\n{first_line}\n") == "Answer."


@pytest.mark.parametrize("kind, language", NOTICES)
def test_a_quoted_notice_is_cut_at_its_marker(kind, language):
    quoted = "\n".join(f"> {line}" if line else ">" for line in notice_body(kind, language).split("\n"))
    answer = "Dzień dobry, proszę zrestartować usługę.\n\nAgent Kowalski"
    reply = f"{answer}\n\nOn Mon, 3 Mar 2025 at 10:15, mailbridge <pomoc-dynamics@example.com> wrote:\n{quoted}"
    assert reply_part(reply) == answer


@pytest.mark.parametrize("kind, language", NOTICES)
def test_an_unquoted_notice_below_an_outlook_block_is_cut_at_its_marker(kind, language):
    answer = "Hola, reiniciamos el servicio.\n\nAgente García"
    reply = (f"{answer}\n\n________________________________\nDe: mailbridge\nEnviado: lunes\n"
             f"Asunto: x\n\n{notice_body(kind, language)}")
    assert reply_part(reply) == answer


@pytest.mark.parametrize("kind, language", NOTICES)
def test_a_notice_pasted_below_without_quoting_or_header_is_cut_at_its_marker(kind, language):
    # Some phone clients put the message answered below the answer as it is: only the marker
    # tells where the agent's text ends.
    answer = "Zrobione.\n\nAgent Kowalski"
    assert reply_part(f"{answer}\n\n{notice_body(kind, language)}") == answer
