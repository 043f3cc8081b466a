"""Priority, type and plan from ordered rules: addresses, words in three languages, headers, plans."""

from __future__ import annotations

import pytest

from mailbridge.classify import classify_ticket, fold, plan_for
from mailbridge.config.classify import DEFAULT_RULES, CustomerConfig, RuleConfig
from mailbridge.parse import parse_message

CUSTOMERS = (CustomerConfig(name="ACME", match=("@acme.pl", "ceo@partner.com"), plan="gold"),
             CustomerConfig(match=("@acme.pl",), plan="silver"))


def mail(subject: str, body: str = "Dzień dobry.", *, to: str = "pomoc@example.com", sender: str = "jan@firma.pl",
         headers: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <x@firma.pl>\r\n{headers}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def classify(raw: bytes, rules=DEFAULT_RULES, **extra):
    return classify_ticket(parse_message(raw), queue=extra.pop("queue", "dynamics"), default_priority="routine",
                           default_type="question", rules=rules, customers=CUSTOMERS, **extra)


@pytest.mark.parametrize(("subject", "body", "priority", "type_"), [
    ("Faktura za listopad", "Proszę o fakturę.", "routine", "question"),
    ("AWARIA KRYTYCZNA - system nie działa", "", "critical", "incident"),
    ("Problem", "Mamy awarię krytyczną?\nNie: awaria   krytyczna produkcji.", "critical", "incident"),
    ("Pilne: brak dostępu", "", "urgent", "question"),
    ("Niepilne pytanie", "", "routine", "question"),          # whole words only
    ("URGENTE: sin servicio", "", "urgent", "question"),
    ("Consulta", "Es urgente, por favor.", "routine", "question"),  # urgency words only in the subject
    ("Derecho de peticion", "Solicito información.", "routine", "petition"),  # accents ignored
    ("Queja por el servicio", "", "routine", "complaint"),
    ("Reclamación factura 123", "", "routine", "claim"),
    ("Critical failure in production", "", "critical", "incident"),
])
def test_words_in_three_languages(subject, body, priority, type_):
    found = classify(mail(subject, body or "Hola."))
    assert (found.priority, found.type) == (priority, type_)


def test_the_rule_that_decided_is_named():
    found = classify(mail("Pilne: queja"))
    assert (found.priority_rule, found.type_rule) == ("urgent-words", "complaint-words")
    assert classify(mail("Faktura")).priority_rule == "default"


def test_header_rule():
    assert classify(mail("Faktura", headers="X-Priority: 1 (Highest)\r\n")).priority == "urgent"
    assert classify(mail("Faktura", headers="X-Priority: 3 (Normal)\r\n")).priority == "routine"


RULES = (
    RuleConfig(name="critical-address", priority="critical", type="incident", to=("awarie@example.com",)),
    RuleConfig(name="gold-urgent", priority="urgent", plans=("gold",), queues=("dynamics",)),
    RuleConfig(name="es-petition", type="petition", keywords=("solicito",), languages=("es",)),
    RuleConfig(name="header-present", type="claim", headers={"X-Claim": ""}),
)


def test_first_match_wins_by_address_plan_language_and_header():
    assert classify(mail("x", to="Awarie <AWARIE+pilne@example.com>"), RULES).priority == "critical"
    assert classify(mail("x"), RULES, envelope_rcpts=("awarie@example.com",)).type == "incident"
    assert classify(mail("x", sender="jan@acme.pl"), RULES).priority == "urgent"
    assert classify(mail("x", sender="jan@acme.pl"), RULES, queue="powerbi").priority == "routine"
    spanish = "Buenos días, solicito una copia de la factura del mes pasado, por favor. Gracias por su atención."
    assert classify(mail("Solicitud", spanish), RULES).type == "petition"
    assert classify(mail("Prośba", "Dzień dobry, solicito to słowo obce w polskim mailu o fakturze za usługi."),
                    RULES).type == "question"
    assert classify(mail("x", headers="X-Claim: yes\r\n"), RULES).type == "claim"


def test_plans_by_address_then_domain_first_customer_wins():
    assert plan_for("JAN@ACME.PL", CUSTOMERS) == "gold"
    assert plan_for("ceo@partner.com", CUSTOMERS) == "gold"
    assert plan_for("other@partner.com", CUSTOMERS) is None
    assert plan_for("", CUSTOMERS) is None


def test_fold():
    assert fold("Żółć, ŁÓDŹ!  Petición") == " zolc lodz peticion "
