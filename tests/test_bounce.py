"""parse_bounce: RFC 3464 reports, plain-text MTA bounces, success DSNs and malformed input."""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import email.utils
import time
from pathlib import Path

import pytest

from mailbridge.parse.bounce import _plain_address, parse_bounce
from mailbridge.parse.model import BounceRecipient

FIXTURES = Path(__file__).parent / "fixtures" / "mail"


def load(name: str) -> email.message.Message:
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes((FIXTURES / name).read_bytes())


def from_text(raw: str) -> email.message.Message:
    return email.message_from_string(raw, policy=email.policy.compat32)


def test_postfix_dsn_names_recipient_status_and_original_message():
    bounce = parse_bounce(load("bounce_postfix_dsn_user_unknown_5_1_1.eml"))
    assert bounce is not None and bounce.permanent
    assert bounce.recipients == (BounceRecipient("nobody@customer.example", "5.1.1", "failed"),)
    assert bounce.original_message_id == "ack-123.signed@example.com"


def test_delay_warning_is_not_permanent_and_reads_rfc822_headers_part():
    bounce = parse_bounce(load("bounce_delay_warning_4_4_1.eml"))
    assert bounce is not None and not bounce.permanent
    assert bounce.recipients == (BounceRecipient("slow@customer.example", "4.4.1", "delayed"),)
    assert bounce.original_message_id == "notify-77@example.com"


def test_exchange_ndr_with_html_notice():
    bounce = parse_bounce(load("bounce_exchange_ndr_undeliverable.eml"))
    assert bounce.permanent
    assert bounce.recipients == (BounceRecipient("ghost@contoso.com", "5.1.10", "failed"),)
    assert bounce.original_message_id == "relay-45@example.com"


def test_gmail_plain_text_bounce():
    bounce = parse_bounce(load("bounce_gmail_style_plain_text.eml"))
    assert bounce.permanent
    assert bounce.recipients == (BounceRecipient("missing.user@gmail.com", "5.1.1", "failed"),)
    assert bounce.original_message_id == "ack-7@example.com"


def test_polish_exim_bounce():
    bounce = parse_bounce(load("bounce_exim_plain_text_polish_niedostarczona.eml"))
    assert bounce.permanent
    assert [r.address for r in bounce.recipients] == ["brak@firma.example.pl"]
    assert bounce.recipients[0].status == "5.1.1"
    assert bounce.original_message_id == "ack-dyn-5@example.com"


def test_success_dsn_is_not_a_bounce():
    assert parse_bounce(load("bounce_success_dsn_delivered_is_not_bounce.eml")) is None


@pytest.mark.parametrize(
    "fixture",
    [
        "auto_spanish_respuesta_automatica.eml",
        "auto_negative_human_subject_mentions_out_of_office.eml",
        "auto_negative_human_with_x_auto_response_suppress.eml",
        "auto_list_mail_with_list_id.eml",
    ],
)
def test_ordinary_mail_is_not_a_bounce(fixture):
    assert parse_bounce(load(fixture)) is None


def test_person_asking_about_returned_mail_is_not_a_bounce():
    msg = from_text("From: ana@cliente.example\nSubject: Returned mail?\n\nMy mail came back, why?\n")
    assert parse_bounce(msg) is None


def test_qmail_failure_notice_with_reply_code_only():
    msg = from_text(
        "From: MAILER-DAEMON@mx.example.jp\nTo: support@example.com\nSubject: failure notice\n\n"
        "Hi. This is the qmail-send program at mx.example.jp.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        "<gone@example.ne.jp>:\nremote host said: 550 Unknown user\n\n"
        "--- Below this line is a copy of the message.\n\nMessage-ID: <orig-1@example.com>\n"
        "To: gone@example.ne.jp\n\nhello\n"
    )
    bounce = parse_bounce(msg)
    assert bounce.recipients == (BounceRecipient("gone@example.ne.jp", "550", "failed"),)
    assert bounce.permanent and bounce.original_message_id == "orig-1@example.com"


def test_several_recipients_without_blank_lines_between_blocks():
    msg = from_text(
        "From: MAILER-DAEMON@mx.example.com\nSubject: Returned mail\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="x"\n\n'
        "--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; one@example.org\nAction: failed\nStatus: 5.0.0\n"
        "Diagnostic-Code: smtp; 550 5.2.2 Mailbox full\n"
        "Final-Recipient: rfc822; two@example.org\nAction: delayed\nStatus: 4.4.1\n\n--x--\n"
    )
    bounce = parse_bounce(msg)
    assert bounce.recipients == (
        BounceRecipient("one@example.org", "5.2.2", "failed"),
        BounceRecipient("two@example.org", "4.4.1", "delayed"),
    )
    assert bounce.permanent


def test_mac_line_endings_are_read():
    raw = (FIXTURES / "bounce_postfix_dsn_user_unknown_5_1_1.eml").read_bytes().replace(b"\n", b"\r")
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    assert parse_bounce(msg).recipients[0].address == "nobody@customer.example"


@pytest.mark.parametrize(
    "raw",
    [
        "Content-Type: multipart/report; report-type=delivery-status\n\nno boundary at all\n",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="q"\n\n--q\n'
        "Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n!!!!\n--q--\n",
        "From: MAILER-DAEMON\nSubject: Undeliverable\nContent-Type: text/plain; charset=no-such-charset\n\n"
        "\udcff\udcfe could not be delivered\n",
    ],
)
def test_malformed_reports_never_raise(raw):
    msg = from_text(raw)
    result = parse_bounce(msg)
    assert result is None or isinstance(result.recipients, tuple)


def test_huge_bounce_body_is_fast():
    body = ("<user@example.org>: 550 5.1.1 unknown " * 20 + "\n") * 3000
    msg = from_text("From: MAILER-DAEMON@mx.example.com\nSubject: Undelivered Mail\n\n" + body)
    start = time.perf_counter()
    bounce = parse_bounce(msg)
    assert time.perf_counter() - start < 1.0
    assert bounce.recipients[0] == BounceRecipient("user@example.org", "5.1.1", "failed")


def test_amazon_ses_bounce_notification_json():
    body = (
        '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":'
        '[{"emailAddress":"x@customer.example","action":"failed","status":"5.1.1"}]},'
        '"mail":{"messageId":"0101-abc","commonHeaders":{"messageId":"<ack-3@example.com>"}}}'
    )
    msg = from_text("From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n\n" + body + "\n")
    bounce = parse_bounce(msg)
    assert bounce.permanent and bounce.original_message_id == "ack-3@example.com"
    assert bounce.recipients == (BounceRecipient("x@customer.example", "5.1.1", "failed"),)


@pytest.mark.parametrize("value", [
    "Jan Kowalski <jan.kowalski@example.pl>", "<MAILER-DAEMON@mx.example.com>", "postmaster@example.com",
    "=?utf-8?B?SmFuIFfDs2pjaWs=?= <jan@wp.pl>", " Name\r\n <a.b+c@d.example> ", "<>", "MAILER-DAEMON <>",
    "Doe, John <john@example.com>", '"Doe, John" <john@example.com>', "John (Doe) <john@example.com>",
    "a@b>", "<a@b", "a@b, c@d", "a . b@example.com", "<@route:a@b.example>", "a@[1.2.3.4]",
    "Name <a@b.example> trailing", "a@b.example\xa0", "<a@b.example>\udcc5", "Ja\udcc5n <a@b.example>",
])
def test_plain_addresses_read_as_parseaddr_reads_them(value):
    # The fast path answers only for the shapes it knows, and then exactly as parseaddr does.
    assert _plain_address(value) in (None, email.utils.parseaddr(value)[1])
