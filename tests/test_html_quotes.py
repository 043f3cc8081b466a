"""HTML-only replies: quote containers and Outlook's reply header are history, like "> " quotes."""

from __future__ import annotations

import pytest

from mailbridge.parse import parse_message


@pytest.mark.parametrize("name, reply", [
    ("html_gmail_quote_with_elided_part_spanish.eml", "Ya lo he revisado, todo correcto.\n\nLucía"),
    ("html_outlook_divrplyfwdmsg_polish.eml", "Dziękuję, raport już działa.\nAnna"),
    ("html_mailru_quote_container_russian.eml", "Спасибо, счёт оплачен.\nИван"),
    ("html_yandex_reply_russian.eml", "Доступ появился, спасибо!"),
])
def test_html_reply_keeps_only_the_new_text(mail_fixture, name, reply):
    message = parse_message(mail_fixture(name))
    assert message.reply_text == reply


def test_forward_separated_by_a_rule_only_keeps_the_comment(mail_fixture):
    message = parse_message(mail_fixture("html_forward_separated_by_hr_only_spanish.eml"))
    assert message.reply_text == "Os reenvío el pedido que no ha llegado."
    assert "Su pedido ha sido enviado." in message.text


def test_the_full_text_keeps_the_history(mail_fixture):
    message = parse_message(mail_fixture("html_outlook_divrplyfwdmsg_polish.eml"))
    assert "Czy raport odświeża się po restarcie?" in message.text
