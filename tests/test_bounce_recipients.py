"""Bounces name only the recipients that failed, in RFC 822 form, with the right verdict."""

from __future__ import annotations

import email

import pytest

from mailbridge.parse import parse_message
from mailbridge.parse.address_forms import normal_address, x400_to_rfc822
from mailbridge.parse.bounce import parse_bounce
from mailbridge.parse.headers import RAW_POLICY


def bounce_of(mail_fixture, name: str):
    return parse_message(mail_fixture(name))


def from_text(raw: str):
    return email.message_from_string(raw, policy=RAW_POLICY)


def test_list_server_bounce_names_the_failed_member_not_the_list_or_the_returned_headers(mail_fixture):
    message = bounce_of(mail_fixture, "bounce_list_server_polish_names_only_the_failed_member.eml")
    assert [r.address for r in message.bounce.recipients] == ["jan.nowak@odbiorca.example.pl"]
    assert message.bounce.recipients[0].status == "5.1.1"
    assert message.bounce.original_message_id == "ack-dyn-9@example.com"


def test_a_text_bounce_from_a_list_server_is_a_bounce_not_list_mail(mail_fixture):
    message = bounce_of(mail_fixture, "bounce_list_server_polish_names_only_the_failed_member.eml")
    assert message.auto.kind == "bounce"


def test_exchange_ndr_x400_and_smtp_prefixed_recipients_become_rfc822(mail_fixture):
    message = bounce_of(mail_fixture, "bounce_exchange_spanish_x400_and_smtp_prefix.eml")
    recipients = {r.address: r.status for r in message.bounce.recipients}
    assert recipients == {"lucia.garcia@empresa.example.es": "5.1.1", "interno@empresa.example.es": "5.2.2"}
    assert message.bounce.permanent


def test_original_recipient_is_preferred_over_a_rewritten_final_recipient(mail_fixture):
    message = bounce_of(mail_fixture, "bounce_dsn_original_recipient_alias_polish.eml")
    assert [r.address for r in message.bounce.recipients] == ["biuro@firma.example.pl"]


def test_dsn_action_failed_without_status_is_permanent(mail_fixture):
    message = bounce_of(mail_fixture, "bounce_dsn_original_recipient_alias_polish.eml")
    assert message.bounce.permanent
    assert message.auto.kind == "bounce"


def test_will_keep_trying_is_a_delay_even_when_it_mentions_permanent_return(mail_fixture):
    message = bounce_of(mail_fixture, "bounce_text_delay_spanish_seguira_intentando.eml")
    assert not message.bounce.permanent
    assert [(r.address, r.status, r.action) for r in message.bounce.recipients] == [
        ("cliente@lento.example.es", "4.4.1", "delayed")]
    assert message.auto.kind == "delay"


NOTICE = """Return-Path: <>
From: MAILER-DAEMON@mx.example.org
To: help@example.com
Subject: Mail delivery problem

{body}
"""


@pytest.mark.parametrize("body, permanent, action", [
    ("Delivery to <a@example.net> has been delayed. The server will keep trying.\n"
     "a@example.net: 421 try later", False, "delayed"),
    ("Delivery to <a@example.net> failed permanently:\n550 5.1.1 user unknown", True, "failed"),
    ("Doręczenie do <a@example.net> opóźnione, serwer nadal próbuje.\n4.4.1 timeout", False, "delayed"),
    ("Błąd trwały: nie można dostarczyć do <a@example.net>.", True, "failed"),
    ("Problem z dostarczeniem do <a@example.net>: 452 4.2.2 skrzynka pełna", False, "delayed"),
    ("No se pudo entregar a <a@example.net>: 550 5.1.1 usuario desconocido", True, "failed"),
])
def test_delay_or_permanent_is_read_from_the_words_and_codes(body, permanent, action):
    bounce = parse_bounce(from_text(NOTICE.format(body=body)))
    assert bounce.permanent is permanent
    assert [(r.address, r.action) for r in bounce.recipients] == [("a@example.net", action)]


def test_alias_a_recipient_was_expanded_from_is_not_a_second_recipient():
    body = ("could not be delivered to one or more recipients:\n\n"
            "  kasia@example.net\n    (ultimately generated from zespol@example.net)\n"
            "    550 5.2.2 mailbox full\n")
    bounce = parse_bounce(from_text(NOTICE.format(body=body)))
    assert [r.address for r in bounce.recipients] == ["kasia@example.net"]


def test_the_sender_quoted_alone_on_a_line_is_not_a_recipient():
    body = ("A message sent by\n\n  <remitente@example.es>\n\ncould not be delivered to:\n\n"
            "  destino@example.net\n    550 5.1.1 unknown user\n")
    bounce = parse_bounce(from_text(NOTICE.format(body=body)))
    assert [r.address for r in bounce.recipients] == ["destino@example.net"]


def test_help_desk_address_in_prose_is_not_taken_when_the_returned_message_names_the_recipient():
    body = ("Your message could not be delivered. For assistance write to ayuda@isp.example.es.\n\n"
            "------ This is a copy of the message, including all the headers. ------\n\n"
            "From: soporte@example.com\nTo: cliente@example.es\nSubject: Hola\n\nTexto\n")
    bounce = parse_bounce(from_text(NOTICE.format(body=body)))
    assert [r.address for r in bounce.recipients] == ["cliente@example.es"]


@pytest.mark.parametrize("written, address", [
    ("rfc822; <jan@example.pl>", "jan@example.pl"),
    ("RFC822;SMTP:jan@example.pl", "jan@example.pl"),
    ("smtp=jan@example.pl", "jan@example.pl"),
    ("x400; /RFC-822=jan.kowalski(a)firma.example.pl/ADMD= /C=PL/", "jan.kowalski@firma.example.pl"),
    ("/C=ES/ADMD= /PRMD=correo/O=Empresa/S=Garcia/G=Lucia/", "lucia.garcia@empresa.correo.es"),
    ("rfc822;IMCEASMTP-jan+2Enowak+40firma+2Eexample+2Epl@exchange.local", "jan.nowak@firma.example.pl"),
    ("rfc822;IMCEAEX-_O=FIRMA_OU=EXCHANGE_CN=RECIPIENTS_CN=JNOWAK@firma.example.pl", ""),
])
def test_report_address_forms_become_rfc822(written, address):
    assert normal_address(written) == address


def test_x400_without_a_name_or_domain_is_not_an_address():
    assert x400_to_rfc822("/C=PL/ADMD= /") is None


SENDMAIL = """   ----- The following addresses had permanent fatal errors -----
<kasia@example.net>
    (reason: 550 5.1.1 <kasia@example.net>... User unknown)

   ----- Transcript of session follows -----
>>> RCPT To:<kasia@example.net>
<<< 550 5.1.1 <kasia@example.net>... User unknown

   ----- Original message follows -----

Return-Path: <help@example.com>
From: Pomoc <help@example.com>
To: kasia@example.net, other@example.net
Cc: lista@lists.example.org
"""
YAHOO = """Sorry, we were unable to deliver your message to the following address.

<nadie@yahoo.example.com>:
554: delivery error: dd This user doesn't have an account

--- Below this line is a copy of the message.

From: help@example.com
To: nadie@yahoo.example.com, amigo@yahoo.example.com
"""
GROUPWISE = """The message that you sent was undeliverable to the following:
\tbad.user@gw.example.com (user not found)

Possibly truncated original message follows:

From: help@example.com
To: bad.user@gw.example.com; team@gw.example.com
"""


@pytest.mark.parametrize("body, failed, status", [
    (SENDMAIL, "kasia@example.net", "5.1.1"),
    (YAHOO, "nadie@yahoo.example.com", "554"),
    (GROUPWISE, "bad.user@gw.example.com", None),
])
def test_old_text_bounces_name_only_the_failed_address(body, failed, status):
    bounce = parse_bounce(from_text(NOTICE.format(body=body)))
    assert [(r.address, r.status) for r in bounce.recipients] == [(failed, status)]
    assert bounce.permanent


def test_an_x500_original_recipient_gives_way_to_the_final_recipient():
    report = ("Return-Path: <>\nFrom: postmaster@firma.example.pl\nTo: help@example.com\n"
              "Subject: Undeliverable\nContent-Type: multipart/report; report-type=delivery-status;"
              " boundary=b\n\n--b\nContent-Type: text/plain\n\nFailed.\n--b\n"
              "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
              "Original-Recipient: rfc822;IMCEAEX-_O=FIRMA_OU=EXCHANGE_CN=RECIPIENTS_CN=JNOWAK@firma.example.pl\n"
              "Final-Recipient: rfc822;jan.nowak@firma.example.pl\nAction: failed\nStatus: 5.1.1\n--b--\n")
    bounce = parse_bounce(from_text(report))
    assert [r.address for r in bounce.recipients] == ["jan.nowak@firma.example.pl"]
