"""The parts of outgoing mail on their own: backoff, composing, loop decisions, templates, config."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mailbridge.outgoing.compose import Outgoing, UnsafeAddress, compose, one_line, subject_with_code
from mailbridge.config import load_config
from mailbridge.errors import ConfigError
from mailbridge.outgoing.loops import Limit, RecipientState, decide
from mailbridge.outgoing.outbox import backoff
from mailbridge.parse import parse_message
from mailbridge.outgoing.templates import Rendered, TemplateProblem, check_templates, sample_context, templates_for
from mailbridge.tokens import our_message_id
from mailbridge.outgoing.transport import MaildirTransport

NOW = datetime(2026, 2, 12, 9, 0, tzinfo=UTC)
SECRET = b"parts-tests-secret-0123456789abcdef"
CONFIG = """
[mailbridge]
state_dir = "{state}"
secret = "parts-tests-secret-0123456789abcdef"
{extra}
[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"
language = "pl"
languages = ["en"]
display_name = "Pomoc Dynamics"

[[queues]]
name = "soporte"
address = "soporte@example.com"
code_prefix = "SOP"
language = "es"
"""


def config_with(tmp_path: Path, extra: str = ""):
    path = tmp_path / "mailbridge.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state", extra=extra), encoding="utf-8")
    return load_config(path, env={"RELAY_PASSWORD": "relay-password-0123456789"})


@pytest.fixture
def config(tmp_path):
    return config_with(tmp_path)


# --- backoff ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("attempt", "minutes"), [(0, 0), (1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (500, 60)])
def test_backoff_doubles_from_a_minute_up_to_an_hour(attempt, minutes):
    assert backoff(attempt) == timedelta(minutes=minutes)


# --- composing ----------------------------------------------------------------------------------


def _compose(config, *, subject="Temat", name="Jan Kowalski", address="jan@klient.pl", refs=(), auto="auto-replied"):
    outgoing = Outgoing(config.queues[0], address, name, "DYN-000007", 7,
                        our_message_id(7, SECRET, "example.com"), "orig@klient.pl", refs, auto)
    raw = compose(Rendered(subject, "Treść\n", None), outgoing, secret=SECRET, now=NOW)
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.parametrize("attack", [
    "Hello\r\nBcc: victim@evil.example", "Hello\nBcc: victim@evil.example", "Hello\rBcc: victim@evil.example",
    "Hello\u2028Bcc: victim@evil.example", "Hello\x00\r\n\r\nbody injected",
])
def test_line_breaks_in_subject_and_name_never_make_a_header(config, attack):
    raw, mail = _compose(config, subject=attack, name=attack)
    assert mail["Bcc"] is None
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc:") for line in head.split(b"\r\n"))
    assert mail["Subject"].startswith("[DYN-000007] Hello")
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Treść\n"


@pytest.mark.parametrize("address", ["jan@klient.pl\r\nBcc: x@evil.example", "a b@c.d", "<jan@klient.pl>", "", "jan"])
def test_an_address_that_is_not_plain_is_refused(config, address):
    with pytest.raises(UnsafeAddress):
        _compose(config, address=address)


def test_broken_references_are_left_out_and_the_thread_is_kept(config):
    _, mail = _compose(config, refs=["first@a.example", "not an id", "x@y\r\nBcc: z@evil.example", "orig@klient.pl"])
    assert mail["References"] == "<first@a.example> <orig@klient.pl>"
    assert mail["In-Reply-To"] == "<orig@klient.pl>"


def test_mail_from_a_person_carries_no_automatic_headers(config):
    _, mail = _compose(config, auto=None)
    assert [mail[h] for h in ("Auto-Submitted", "Precedence", "X-Loop", "X-Auto-Response-Suppress")] == [None] * 4


def test_polish_display_name_and_subject_are_encoded_and_decode_back(config):
    _, mail = _compose(config, subject="Zażółć gęślą jaźń", name="Łukasz Żółć")
    assert mail["Subject"] == "[DYN-000007] Zażółć gęślą jaźń"
    assert mail["To"].addresses[0].display_name == "Łukasz Żółć"


@pytest.mark.parametrize(("subject", "expected"), [
    ("Problem", "[DYN-000007] Problem"),
    ("Odp: [dyn-000007] Problem", "Odp: [dyn-000007] Problem"),
    ("DYN-000007 bez nawiasów", "[DYN-000007] DYN-000007 bez nawiasów"),
    ("  a\tb  ", "[DYN-000007] a b"),
])
def test_subject_gets_the_bracketed_code_once(subject, expected):
    assert subject_with_code(subject, "DYN-000007") == expected


def test_one_line_removes_every_control_character():
    assert one_line("a\r\nb\tc\x00d\x7fe\u2029f") == "a b c d e f"



def _compose_rendered(config, rendered, *, name="Jan Kowalski", refs=()):
    outgoing = Outgoing(config.queues[0], "jan@klient.pl", name, "DYN-000007", 7,
                        our_message_id(7, SECRET, "example.com"), "orig@klient.pl", refs, "auto-replied")
    raw = compose(rendered, outgoing, secret=SECRET, now=NOW)
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def _lines(raw: bytes) -> list[bytes]:
    assert b"\n" not in raw.replace(b"\r\n", b""), "every line ends in CRLF"
    return raw.split(b"\r\n")


@pytest.mark.parametrize("subject", [
    "x" * 1200, "ż" * 400, "Problema con la factura nº 7 — urgente " * 30, "słowo " * 300,
])
def test_long_subjects_fold_under_78_columns_and_read_back_the_same(config, subject):
    raw, mail = _compose(config, subject=subject, name="Zażółć gęślą jaźń " * 20)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in _lines(head)) <= 78
    assert mail["Subject"] == f"[DYN-000007] {' '.join(subject.split())}"
    assert parse_message(raw).subject == mail["Subject"]
    assert not mail.defects


def test_long_references_and_body_lines_stay_under_998_bytes(config):
    refs = [f"{'r' * 880}{n}@thread.example" for n in range(30)]
    rendered = Rendered("Temat", "ł" * 5000 + "\n" + "a" * 3000 + "\n", "<p>" + "ñ" * 4000 + "</p>")
    raw, mail = _compose_rendered(config, rendered, refs=refs)
    assert max(len(line) for line in _lines(raw)) <= 998
    assert len(mail["References"].split()) == 20
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == rendered.text
    assert mail.get_body(("html",)).get_content().replace("\r\n", "\n") == rendered.html + "\n"


def test_text_that_looks_like_an_encoded_word_is_kept_as_written(config):
    raw, mail = _compose(config, subject="=?utf-8?q?abc?= and more", name="=?utf-8?q?Admin?=")
    assert mail["Subject"] == "[DYN-000007] =?utf-8?q?abc?= and more"
    assert mail["To"].addresses[0].display_name == "=?utf-8?q?Admin?="
    assert parse_message(raw).subject == mail["Subject"]


@pytest.mark.parametrize(("name", "header"), [
    ('He said "hi", ok; <x>', '"He said \\"hi\\", ok; <x>" <jan@klient.pl>'),
    ("Ruiz, María", None),
    ("Jan Kowalski", "Jan Kowalski <jan@klient.pl>"),
    ("", "jan@klient.pl"),
])
def test_display_names_with_specials_stay_one_mailbox(config, name, header):
    raw, mail = _compose(config, name=name)
    [address] = mail["To"].addresses
    assert (address.display_name, address.addr_spec) == (name, "jan@klient.pl")
    line = next(line for line in _lines(raw) if line.startswith(b"To:"))
    if header is not None:
        assert line.decode() == f"To: {header}"


def test_spanish_mail_with_html_is_two_utf8_alternatives_our_parser_reads_back(config):
    text = "Estimado cliente:\n\nHemos recibido su solicitud nº 7 — gracias.\n"
    rendered = Rendered("Solicitud recibida: ¿cuándo?", text, "<p>Hemos recibido su solicitud — ñ</p>\n")
    raw, mail = _compose_rendered(config, rendered, name="José Núñez")
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_charset() for part in mail.iter_parts()] == ["utf-8", "utf-8"]
    assert mail["To"].addresses[0].display_name == "José Núñez"
    parsed = parse_message(raw)
    assert parsed.subject == "[DYN-000007] Solicitud recibida: ¿cuándo?"
    assert "Hemos recibido su solicitud nº 7 — gracias." in parsed.text
    assert not mail.defects and all(not part.defects for part in mail.walk())


# --- loop decisions -----------------------------------------------------------------------------


def _message(extra: str = "", sender: str = "jan@klient.pl", message_id: str = "m1@klient.pl"):
    raw = (f"Message-ID: <{message_id}>\nFrom: {sender}\nTo: pomoc-dynamics@example.com\n"
           f"Subject: Pytanie\n{extra}\n\nTreść\n").replace("\n\n\n", "\n\n")
    return parse_message(raw.encode())


def _decide(config, recipient="jan@klient.pl", message=None, envelope_from="jan@klient.pl",
            state=RecipientState(), limit=Limit(10, 3)):
    return decide(recipient, message=message, envelope_from=envelope_from, queues=config.queues,
                  secret=SECRET, state=state, limit=limit, now=NOW)


LOOP_CASES = [
    ("a person", {}, True, False, ""),
    ("auto-reply", {"message": "Auto-Submitted: auto-replied"}, False, False, "automatic mail (auto-reply"),
    ("list mail", {"message": "List-Id: <news.klient.pl>"}, False, False, "automatic mail (list"),
    ("our X-Loop", {"message": "X-Loop: pomoc-dynamics@example.com"}, False, False, "our own mail came back"),
    ("list manager", {"message": "Mailing-List: contact help@lists.example; run by ezmlm"}, False, False,
     "automatic mail (list: Mailing-List: contact"),
    ("fml", {"message": "X-MLServer: fml [fml 4.0.3 release]"}, False, False, "automatic mail (list: X-MLServer"),
    ("null sender", {"envelope_from": ""}, False, False, "null envelope sender"),
    ("mailer-daemon", {"recipient": "MAILER-DAEMON@klient.pl"}, False, False, "machine address"),
    ("postmaster", {"recipient": "postmaster@klient.pl"}, False, False, "machine address"),
    ("noreply", {"recipient": "no-reply@shop.example"}, False, False, "no-reply address"),
    ("noreply tag", {"recipient": "noreply+orders@shop.example"}, False, False, "no-reply address"),
    ("our queue", {"recipient": "Soporte+abc@Example.com"}, False, False, "one of our own queue addresses"),
    ("no address", {"recipient": ""}, False, False, "no sender address"),
    ("undeliverable", {"state": RecipientState(0, NOW + timedelta(days=1))}, False, True, "undeliverable until"),
    ("undeliverable past", {"state": RecipientState(0, NOW - timedelta(seconds=1))}, True, False, ""),
    ("at the limit", {"state": RecipientState(10)}, False, True, "rate limit: 10 automatic mails"),
    ("under the limit", {"state": RecipientState(9)}, True, False, ""),
    ("no limit for agents", {"state": RecipientState(500), "limit": None}, True, False, ""),
]


@pytest.mark.parametrize(("case", "args", "send", "hold", "reason"), LOOP_CASES, ids=[c[0] for c in LOOP_CASES])
def test_loop_protection_decisions(config, case, args, send, hold, reason):
    args = dict(args)
    if "message" in args:
        args["message"] = _message(args["message"])
    decision = _decide(config, **args)
    assert (decision.send, decision.hold) == (send, hold)
    assert reason in decision.reason


def test_our_own_message_id_coming_back_is_never_answered(config):
    ours = our_message_id(3, SECRET, "example.com")
    decision = _decide(config, message=_message(message_id=ours))
    assert (decision.send, decision.reason) == (False, "our own mail came back (our Message-ID)")


# --- templates ----------------------------------------------------------------------------------


def test_every_bundled_template_renders_for_every_queue(config):
    assert check_templates(config) == []


def test_language_follows_the_queue_or_the_customer_when_the_queue_allows_it(config):
    dynamics, soporte = config.queues
    assert [dynamics.answer_language(x) for x in ("en", "es", None, "pl")] == ["en", "pl", "pl", "pl"]
    assert soporte.answer_language("en") == "es"


def test_a_queue_file_overrides_the_template_for_that_queue_only(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "ack.dynamics.pl.txt").write_text("Dziękujemy, {{ ticket.code }}\n\nKrótko.\n", encoding="utf-8")
    config = config_with(tmp_path, f'[outbox]\ntemplates_dir = "{own}"\n')
    dynamics, soporte = config.queues
    rendered = templates_for(config).render("ack", "dynamics", "pl", sample_context(dynamics, config))
    assert (rendered.subject, rendered.text, rendered.html) == ("Dziękujemy, DYN-000123", "Krótko.\n", None)
    other = templates_for(config).render("ack", "soporte", "es", sample_context(soporte, config))
    assert other.subject.startswith("Hemos recibido su solicitud")


@pytest.mark.parametrize(("text", "problem"), [
    ("Temat {{ ticket.code\n\nTreść\n", "ack.pl.txt line 3: expected token 'end of print statement'"),
    ("Temat {{ ticket.kod }}\n\nTreść\n", "'dict object' has no attribute 'kod'"),
    ("Temat\nbez pustej linii\n", "ack.pl.txt: the first line is the subject and the second must be blank"),
    ("{{ '' }}\n\nTreść\n", "ack.pl.txt: the subject line renders empty"),
])
def test_check_templates_reports_a_broken_template_in_one_line(tmp_path, text, problem):
    own = tmp_path / "own"
    own.mkdir()
    (own / "ack.pl.txt").write_text(text, encoding="utf-8")
    config = config_with(tmp_path, f'[outbox]\ntemplates_dir = "{own}"\n')
    problems = check_templates(config)
    assert len(problems) == 1 and problems[0].startswith("templates: ")
    assert problem in problems[0]
    with pytest.raises(TemplateProblem):
        templates_for(config).render("ack", "dynamics", "pl", sample_context(config.queues[0], config))


def test_html_templates_escape_values_from_mail(config):
    context = sample_context(config.queues[0], config)
    context["ticket"]["subject"] = "<script>alert(1)</script>"
    rendered = templates_for(config).render("ack", "dynamics", "pl", context)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.subject


# --- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lines", "problem"), [
    ('relay_host = "smtp.example.com"\nrelay_user = "mb"', "outbox: relay_user and relay_password go together"),
    ('relay_user = "mb"\nrelay_password = "env:RELAY_PASSWORD"', "outbox: relay_user is set but relay_host is empty"),
    ('relay_tls = "ssl"', "outbox.relay_tls: must be 'starttls', 'implicit' or 'none'"),
    ('relay_port = 0', "outbox.relay_port: must be greater than or equal to 1"),
    ('max_auto_per_recipent = 3', "outbox.max_auto_per_recipent: unknown key (did you mean 'max_auto_per_recipient'?)"),
    ('templates_dir = "/nonexistent/templates"', "outbox.templates_dir: no such directory: /nonexistent/templates"),
    ('relay_ca_file = "/nonexistent/ca.pem"', "outbox.relay_ca_file: no such file: /nonexistent/ca.pem"),
])
def test_outbox_config_problems_are_one_line_each(tmp_path, lines, problem):
    with pytest.raises(ConfigError) as caught:
        config_with(tmp_path, f"[outbox]\n{lines}\n")
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_the_relay_password_may_come_from_the_environment_and_is_not_shown(tmp_path):
    config = config_with(tmp_path, '[outbox]\nrelay_host = "smtp.example.com"\nrelay_user = "mb"\n'
                                   'relay_password = "env:RELAY_PASSWORD"\n')
    assert config.outbox.relay_password == "relay-password-0123456789"
    assert "relay-password" not in repr(config.outbox)


def test_without_a_relay_mail_goes_to_a_maildir_under_the_state_directory(config, tmp_path):
    assert config.outbox_maildir == tmp_path / "state" / "outbox-maildir"


# --- Maildir ------------------------------------------------------------------------------------


def test_maildir_delivery_leaves_one_complete_file_in_new(tmp_path):
    transport = MaildirTransport(tmp_path / "maildir")
    where = transport.send("pomoc@example.com", "jan@klient.pl", b"Subject: x\r\n\r\nbody\r\n")
    [path] = (tmp_path / "maildir" / "new").iterdir()
    assert where == f"maildir {path}"
    assert list((tmp_path / "maildir" / "tmp").iterdir()) == []
    assert path.read_bytes() == b"Return-Path: <pomoc@example.com>\nDelivered-To: jan@klient.pl\nSubject: x\n\nbody\n"


def test_the_maildir_asks_for_the_host_name_once_not_per_mail(tmp_path, monkeypatch):
    import socket

    from mailbridge.outgoing import transport as transport_module

    asked = []
    monkeypatch.setattr(socket, "gethostname", lambda: asked.append(1) or "mail/host:1")
    transport_module._host.cache_clear()
    try:
        transport = MaildirTransport(tmp_path / "maildir")
        with transport.batch() as send:
            for number in range(3):
                send("pomoc@example.com", "jan@klient.pl", f"Subject: {number}\r\n\r\nbody\r\n".encode())
    finally:
        transport_module._host.cache_clear()
    assert len(asked) == 1
    assert all(path.name.endswith(".mail_host_1") for path in (tmp_path / "maildir" / "new").iterdir())


def test_a_maildir_removed_while_running_is_made_again_by_the_next_mail(tmp_path):
    import shutil

    transport = MaildirTransport(tmp_path / "maildir")
    transport.send("pomoc@example.com", "jan@klient.pl", b"Subject: one\r\n\r\nbody\r\n")
    shutil.rmtree(tmp_path / "maildir")
    transport.send("pomoc@example.com", "jan@klient.pl", b"Subject: two\r\n\r\nbody\r\n")
    transport.flush()
    [path] = (tmp_path / "maildir" / "new").iterdir()
    assert b"Subject: two" in path.read_bytes()


def test_templates_see_jinja_globals_and_each_render_starts_clean(tmp_path):
    """Templates keep jinja's globals (range, namespace, cycler) with their globals held as a plain dict,
    and a variable set in one render is not seen by the next."""
    from mailbridge.outgoing.templates import Templates

    (tmp_path / "ack.en.txt").write_text(
        "Subject {{ ticket.code }}\n\n{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
        "{% endfor %}{% set row = cycler('a', 'b') %}{{ ns.n }} {{ row.next() }}{{ row.next() }}"
        " {{ seen is defined }}{% set seen = 1 %}\n", encoding="utf-8")
    templates = Templates([tmp_path])
    for code in ("A-1", "A-2"):
        rendered = templates.render("ack", "q", "en", {"ticket": {"code": code}})
        assert (rendered.subject, rendered.text) == (f"Subject {code}", "3 ab False\n")


@example("a  b")
@example(" a")
@example("a ")
@example("a\u2028b")
@example("a\xa0b")
@example("a\x85b")
@given(st.text(alphabet="aé0 \t\r\n\x00\x85\xa0\u2028\u2029\u3000\u200b", max_size=12) | st.text(max_size=30))
def test_one_line_keeps_a_value_already_one_line_and_flattens_every_other(value):
    """The shortcut for values already on one line returns what the full flattening would."""
    import re

    flat = " ".join(re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]+", " ", value).split())
    assert one_line(value) == flat


@given(st.binary(max_size=400))
@example(b"")
@example(b"x" * 57)
def test_attachment_base64_lines_are_what_the_stdlib_writes_with_crlf(data):
    import base64

    from mailbridge.outgoing.compose import _base64_lines

    assert _base64_lines(data) == base64.encodebytes(data).replace(b"\n", b"\r\n")


def test_the_date_header_of_an_instant_shows_the_offset_it_was_given():
    from email.utils import format_datetime

    from mailbridge.outgoing.compose import _date

    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    later_zone = now.astimezone(timezone(timedelta(hours=1)))
    assert later_zone == now
    assert [_date(now), _date(later_zone), _date(now)] == [format_datetime(now), format_datetime(later_zone),
                                                           format_datetime(now)]
    assert _date(now) != _date(later_zone)
