"""detect_auto: RFC 3834 headers, list headers, localised out-of-office subjects, known negatives."""

from __future__ import annotations

import email.header
import email.message
import email.parser
import email.policy
import email.utils
from pathlib import Path

import pytest

from mailbridge.parse.auto import detect_auto
from mailbridge.parse.auto_subjects import out_of_office_phrase
from mailbridge.parse.bounce import parse_bounce
from mailbridge.parse.model import Address

FIXTURES = Path(__file__).parent / "fixtures" / "mail"


def load(name: str) -> email.message.Message:
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes((FIXTURES / name).read_bytes())


def verdict_for(msg: email.message.Message):
    """Call detect_auto the way parse_message does, decoding the subject with email.header."""
    subject = str(email.header.make_header(email.header.decode_header(str(msg.get("Subject", "")))))
    name, address = email.utils.parseaddr(str(msg.get("From", "")))
    sender = Address(name, address) if address else None
    return detect_auto(msg, subject=subject, sender=sender, bounce=parse_bounce(msg))


def message(headers: str, body: str = "Hello.\n") -> email.message.Message:
    return email.message_from_string(headers.strip() + "\n\n" + body, policy=email.policy.compat32)


@pytest.mark.parametrize(
    ("fixture", "kind", "reason_part"),
    [
        ("auto_outlook_polish_out_of_office_windows1250.eml", "auto-reply", "Odpowiedź automatyczna"),
        ("auto_spanish_respuesta_automatica.eml", "auto-reply", "Respuesta automática"),
        ("auto_spanish_fuera_de_la_oficina_precedence_bulk.eml", "auto-reply", "Fuera de la oficina"),
        ("auto_rfc3834_auto_submitted_auto_replied.eml", "auto-reply", "Auto-Submitted: auto-replied"),
        ("auto_x_autoreply_header.eml", "auto-reply", "X-Autoreply: yes"),
        ("auto_list_mail_with_list_id.eml", "list", "List-Id"),
        ("auto_ezmlm_notice.eml", "list", "Mailing-List: contact lista-help@lists.klient.pl; run by ezmlm"),
        ("auto_arf_feedback_report.eml", "complaint", "ARF"),
        ("bounce_postfix_dsn_user_unknown_5_1_1.eml", "bounce", "5.1.1"),
        ("bounce_delay_warning_4_4_1.eml", "delay", "delayed"),
        ("bounce_exchange_ndr_undeliverable.eml", "bounce", "5.1.10"),
        ("bounce_gmail_style_plain_text.eml", "bounce", "5.1.1"),
        ("bounce_exim_plain_text_polish_niedostarczona.eml", "bounce", "5.1.1"),
        ("bounce_success_dsn_delivered_is_not_bounce.eml", "other-auto", "delivery-status"),
    ],
)
def test_fixture_verdicts(fixture, kind, reason_part):
    verdict = verdict_for(load(fixture))
    assert verdict is not None
    assert (verdict.kind, reason_part in verdict.reason) == (kind, True), verdict


@pytest.mark.parametrize(
    "fixture",
    [
        "auto_negative_human_with_x_auto_response_suppress.eml",
        "auto_negative_human_subject_mentions_out_of_office.eml",
        "auto_negative_human_subject_absence_de_reponse.eml",
    ],
)
def test_human_mail_is_not_automatic(fixture):
    assert verdict_for(load(fixture)) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Automatyczna odpowiedź: Zgłoszenie DYN-000123",
        "Odp: Odpowiedź automatyczna: problem z raportem",
        "Poza biurem do 20.11",
        "Nieobecność: Re: faktura",
        "RE: Respuesta automática: Solicitud",
        "Fuera de la oficina",
        "Ausente hasta el lunes",
        "Out of Office: Re: [DYN-000001] Login fails",
        "Automatic reply: help",
        "Auto Reply: thanks",
        "AutoReply",
        "Away from the office until Monday",
        "On vacation",
        "Abwesenheitsnotiz: Ihre Anfrage",
        "Automatische Antwort: Rechnung",
        "Réponse automatique : demande",
        "Absence du bureau",
        "Resposta automática: pedido",
        "Risposta automatica: richiesta",
        "Automatisch antwoord: vraag",
        "[EXTERNAL] Automatic reply: Invoice",
    ],
)
def test_out_of_office_subjects_in_many_languages(subject):
    assert out_of_office_phrase(subject) is not None


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Out of office hours question",
        "Question about the automatic reply feature",
        "Absence de réponse",
        "Ausencia de respuesta del soporte",
        "My out of office is broken",
        "Awaiting your answer",
        "",
    ],
)
def test_human_subjects_that_mention_the_words_do_not_match(subject):
    assert out_of_office_phrase(subject) is None


@pytest.mark.parametrize(
    ("headers", "kind", "reason"),
    [
        ("Auto-Submitted: auto-generated", "other-auto", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: auto-notified; owner-email=x@example.com", "other-auto", "Auto-Submitted"),
        ("X-Autorespond: 1", "auto-reply", "X-Autorespond: 1"),
        ("X-Auto-Response: yes", "auto-reply", "X-Auto-Response"),
        ("Precedence: auto_reply", "auto-reply", "Precedence: auto_reply"),
        ("Precedence: bulk", "list", "Precedence: bulk"),
        ("Precedence: junk", "other-auto", "Precedence: junk"),
        ("Precedence: list", "list", "Precedence: list"),
        ("List-Unsubscribe: <mailto:u@lists.example>", "list", "List-Unsubscribe"),
        ("Mailing-List: contact lista-help@lists.example; run by ezmlm", "list", "Mailing-List: contact"),
        ("X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]", "list", "X-MLServer: fml"),
        ("X-ML-Name: neko-nyaan", "list", "X-ML-Name: neko-nyaan"),
        ("List-Subscribe: <mailto:neko-ctl@example.org?body=subscribe>", "list", "List-Subscribe"),
        ("List-Post: <mailto:lista@lists.example>", "list", "List-Post"),
        ("X-Mailing-List: <linux-kernel@vger.example>", "list", "X-Mailing-List"),
        ("X-Loop: support@example.com", "loop", "X-Loop: support@example.com"),
        ("X-MS-Exchange-Inbox-Rules-Loop: user@contoso.com", "loop", "Inbox-Rules-Loop"),
        ("X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent", "other-auto", "Mailbox Rules"),
        ("Return-Path: <>", "other-auto", "Return-Path: <>"),
    ],
)
def test_header_signals(headers, kind, reason):
    msg = message(f"From: a@example.org\nTo: b@example.com\nSubject: Hello\n{headers}")
    verdict = verdict_for(msg)
    assert verdict is not None and verdict.kind == kind and reason in verdict.reason, verdict


def test_auto_submitted_no_is_a_person():
    msg = message("From: a@example.org\nSubject: Hi\nAuto-Submitted: no\nX-Autoreply: no")
    assert verdict_for(msg) is None


def test_postmaster_sender_without_bounce_content_is_other_auto():
    msg = message("From: postmaster@example.org\nSubject: Weekly quota report")
    verdict = verdict_for(msg)
    assert verdict is not None and verdict.kind == "other-auto" and "postmaster" in verdict.reason


def test_no_reply_sender_is_other_auto():
    msg = message("From: Shop <no-reply@shop.example>\nSubject: Your order")
    assert verdict_for(msg).kind == "other-auto"


def test_list_id_names_the_list_when_a_list_manager_sends_several_headers():
    msg = message("From: owner@lists.example\nSubject: Digest\nList-Post: <mailto:l@lists.example>\n"
                  "X-MLServer: fml\nList-Id: <l.lists.example>")
    assert verdict_for(msg).reason == "List-Id: <l.lists.example>"


def test_auto_reply_wins_over_list_headers():
    msg = message("From: a@example.org\nSubject: Out of Office: news\nList-Id: <news.example>")
    assert verdict_for(msg).kind == "auto-reply"


def test_raw_8bit_header_bytes_do_not_break_detection():
    raw = b"From: a@example.org\nSubject: Poza biurem\nX-Autoreply: \xc5\x82\n\nx\n"
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    verdict = detect_auto(msg, subject="Poza biurem", sender=None, bounce=None)
    assert verdict is not None and verdict.kind == "auto-reply"


def test_pathological_subject_is_fast():
    import time

    start = time.perf_counter()
    out_of_office_phrase("Re: " * 5000 + "out of office " * 5000)
    assert time.perf_counter() - start < 0.5
