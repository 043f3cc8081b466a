"""The pure parts of agents' mail: reading `#` commands, Authentication-Results, and cutting quoted HTML."""

from __future__ import annotations

import pytest

from mailbridge.agents.commands import read_commands
from mailbridge.agents.html import answer_html, sanitise
from mailbridge.agents.trust import authenticated
from mailbridge.parse import parse_message


@pytest.mark.parametrize(("text", "commands", "body"), [
    ("#note\nCalled them.", [("note", "")], "Called them."),
    ("#NOTATKA dzwoniłam\nOddzwonią jutro.", [("note", "")], "dzwoniłam\nOddzwonią jutro."),
    ("#nota\nLlamar mañana", [("note", "")], "Llamar mañana"),
    ("#take #note see #bug 42 first\nok", [("take", ""), ("note", "")], "see #bug 42 first\nok"),
    ("#resolve #priority urgent\nDone.", [("resolve", ""), ("priority", "urgent")], "Done."),
    ("#Rozwiąż\n#priorytet krytyczny\n#typ reklamacja\nGotowe.",
     [("resolve", ""), ("priority", "critical"), ("type", "claim")], "Gotowe."),
    ("#cerrar\n#prioridad urgente\n#tipo petición\n#tomar\n\nListo.",
     [("close", ""), ("priority", "urgent"), ("type", "petition"), ("take", "")], "Listo."),
    ("#assign <Piotr.Nowak@example.com>\nHi", [("assign", "piotr.nowak@example.com")], "Hi"),
    ("#przypisz piotr.nowak@example.com", [("assign", "piotr.nowak@example.com")], ""),
    ("#pending\n#open\n#oczekuje\n#abrir\nx", [("pending", ""), ("open", ""), ("pending", ""), ("open", "")], "x"),
    ("#fwd\n\nFrom: a@b.example", [("fwd", "")], "From: a@b.example"),
    ("#telefon Marek@Sklep.pl\nDzwonił.", [("phone", "marek@sklep.pl")], "Dzwonił."),
    # Not commands: text first, a Markdown heading, a number.
    ("Hello\n#resolve", [], "Hello\n#resolve"),
    ("# Heading\ntext", [], "# Heading\ntext"),
    ("#1 issue is fixed", [], "#1 issue is fixed"),
])
def test_commands_are_read_from_the_top_in_english_polish_and_spanish(text, commands, body):
    found = read_commands(text)
    assert found.error is None
    assert [(c.name, c.argument) for c in found.commands] == commands
    assert found.body == body


@pytest.mark.parametrize(("text", "line"), [
    ("#resolv\nDone", "#resolv"),
    ("#priority soon", "#priority soon"),
    ("#type bug", "#type bug"),
    ("#assign nobody", "#assign nobody"),
    ("#take now", "#take now"),
    ("#resolve #wat\nDone", "#wat"),
    ("#phone\nno address", "#phone"),
])
def test_an_unknown_or_malformed_command_is_named(text, line):
    assert read_commands(text).error == line


def _mail(*headers: str) -> object:
    head = "\r\n".join(["From: Anna <anna@support.example.com>", *headers, "Subject: x"])
    return parse_message((head + "\r\n\r\nbody\r\n").encode())


@pytest.mark.parametrize(("headers", "trusted"), [
    (["Authentication-Results: mx.example.com; dkim=pass header.d=support.example.com"], True),
    # Relaxed alignment: a parent domain's signature covers the agent's subdomain.
    (["Authentication-Results: mx.example.com; dkim=pass (2048-bit key) header.d=example.com header.s=s1"], True),
    (["Authentication-Results: MX.Example.com 1; dmarc=pass (p=REJECT sp=REJECT) header.from=support.example.com"],
     True),
    (["Authentication-Results: mx.example.com;\r\n\tspf=pass smtp.mailfrom=support.example.com;\r\n"
      "\tdkim=pass header.i=@support.example.com"], True),
    (["Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=support.example.com"], False),
    (["Authentication-Results: mx.example.com; dkim=pass header.d=evilexample.com"], False),
    (["Authentication-Results: mx.example.com; dmarc=pass header.from=example.com"], False),
    (["Authentication-Results: other.example; dkim=pass header.d=support.example.com"], False),
    ([], False),
])
def test_only_our_mtas_topmost_verdict_for_the_senders_domain_counts(headers, trusted):
    assert authenticated(_mail(*headers), "mx.example.com").trusted is trusted


def test_without_a_trusted_mta_configured_the_verdict_is_not_asked_for():
    assert authenticated(_mail(), "").trusted


@pytest.mark.parametrize("quoted", [
    '<div class="gmail_quote"><div class="gmail_attr">On Thu, X wrote:</div><blockquote>OLD</blockquote></div>',
    '<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> X</div><div>OLD</div>',
    "<div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p><b>From:</b> X</p></div>OLD",
    '<div class="moz-cite-prefix">W dniu 3.12.2026 o 10:01, X pisze:<br></div><blockquote type="cite">OLD</blockquote>',
    '<div><br><blockquote type="cite"><div>El 3 dic 2026, X escribió:</div>OLD</blockquote></div>',
    "<p>-----Original Message-----<br>From: X<br>OLD</p>",
])
def test_the_quoted_notice_is_cut_from_the_agents_html_whichever_client_wrote_it(quoted):
    cut = answer_html(f"<div>NEW <b>answer</b></div>{quoted}", text="NEW answer", full_text="NEW answer\nOLD",
                      rewrite=False, kept_cids=())
    assert "NEW <b>answer</b>" in cut and "OLD" not in cut and "From:" not in cut


def test_html_without_a_mark_is_used_only_when_the_text_lost_nothing():
    assert "<b>" in answer_html("<b>NEW</b>", text="NEW", full_text="NEW", rewrite=False, kept_cids=())
    made = answer_html("<b>NEW</b> OLD", text="NEW", full_text="NEW\n> OLD", rewrite=False, kept_cids=())
    assert made == "<p>NEW</p>"
    assert answer_html("<b>#resolve NEW</b>", text="NEW", full_text="NEW", rewrite=True, kept_cids=()) == "<p>NEW</p>"


def test_sanitising_drops_scripts_handlers_and_remote_images_and_keeps_relayed_inline_images():
    dirty = ('<p onclick="steal()">Hi <a href="javascript:x()">x</a><a href="https://ok.example">ok</a>'
             '<img src="https://tracker.example/p.gif"><img src="cid:shot@x"><img src="cid:logo@x"></p>'
             '<script>alert(1)</script><style>p{}</style>')
    clean = sanitise(dirty, kept_cids=["SHOT@x"])
    assert "onclick" not in clean and "javascript" not in clean and "script" not in clean
    assert "tracker" not in clean and "cid:logo" not in clean and 'src="cid:shot@x"' in clean
    assert 'href="https://ok.example"' in clean
