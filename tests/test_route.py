"""Routing: To before Cc before envelope, sub-addresses, case, aliases, two products, catch-all."""

from __future__ import annotations

import pytest

from mailbridge.config import QueueConfig
from mailbridge.errors import MailbridgeError, Unroutable
from mailbridge.parse.model import Address, ParsedMessage
from mailbridge.route import base_address, plus_tag, queue_for_address, route

DYNAMICS = QueueConfig(
    name="dynamics",
    address="pomoc-dynamics@example.com",
    aliases=("Dynamics@Example.com",),
    code_prefix="DYN",
    language="pl",
)
POWERBI = QueueConfig(
    name="powerbi", address="pomoc-powerbi@example.com", code_prefix="PBI", language="pl"
)
SOPORTE = QueueConfig(name="soporte", address="soporte@example.es", code_prefix="SOP", language="es")
QUEUES = (DYNAMICS, POWERBI, SOPORTE)
CATCH_ALL = QueueConfig(name="general", address="info@example.com", code_prefix="GEN", catch_all=True)


def message(
    to: tuple[str, ...] = (),
    cc: tuple[str, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> ParsedMessage:
    return ParsedMessage(
        message_id="m1@client.example.org",
        in_reply_to=(),
        references=(),
        from_=Address("Jan Kowalski", "jan@klient.pl"),
        to=tuple(Address("", a) for a in to),
        cc=tuple(Address("", a) for a in cc),
        reply_to=(),
        subject="Błąd przy księgowaniu faktury",
        date=None,
        text="Dzień dobry, ...",
        html=None,
        reply_text="Dzień dobry, ...",
        attachments=(),
        auto=None,
        bounce=None,
        defects=(),
        language="pl",
        headers=headers,
    )


def test_to_header_address() -> None:
    decision = route(message(to=("pomoc-dynamics@example.com",)), QUEUES)
    assert (decision.queue, decision.address, decision.rule) == (DYNAMICS, "pomoc-dynamics@example.com", "to-header")
    assert decision.detail == "To: pomoc-dynamics@example.com"
    assert decision.also == ()


def test_to_wins_over_cc() -> None:
    decision = route(message(to=("soporte@example.es",), cc=("pomoc-powerbi@example.com",)), QUEUES)
    assert decision.queue == SOPORTE
    assert decision.also == ("pomoc-powerbi@example.com",)


def test_cc_when_to_holds_no_queue_address() -> None:
    decision = route(message(to=("vendor@partner.example",), cc=("pomoc-powerbi@example.com",)), QUEUES)
    assert (decision.queue, decision.rule) == (POWERBI, "cc-header")


def test_two_product_addresses_in_to_first_wins_other_noted() -> None:
    to = ("customer-boss@klient.pl", "pomoc-powerbi@example.com", "pomoc-dynamics@example.com")
    decision = route(message(to=to), QUEUES)
    assert decision.queue == POWERBI
    assert decision.also == ("pomoc-dynamics@example.com",)


def test_alias_of_the_same_queue_is_not_noted_as_another_product() -> None:
    decision = route(message(to=("pomoc-dynamics@example.com", "dynamics@example.com")), QUEUES)
    assert decision.also == ()


@pytest.mark.parametrize(
    "recipient",
    ["POMOC-DYNAMICS@EXAMPLE.COM", "Pomoc-Dynamics@example.com", "pomoc-dynamics+faktura@example.com",
     "Pomoc-Dynamics+Faktura@Example.COM", "dynamics@example.com", "DYNAMICS+x@example.com"],
)
def test_case_plus_tags_and_aliases_reach_the_queue(recipient: str) -> None:
    decision = route(message(to=(recipient,)), QUEUES)
    assert decision.queue == DYNAMICS
    assert decision.address == recipient  # the address as written, for explain


def test_envelope_recipient_reaches_a_bcc_queue() -> None:
    msg = message(to=("undisclosed-recipients:;",))
    decision = route(msg, QUEUES, envelope_rcpts=["<soporte+abc@example.es>"])
    assert (decision.queue, decision.rule, decision.address) == (SOPORTE, "envelope", "soporte+abc@example.es")
    assert decision.detail == "RCPT TO: soporte+abc@example.es"


def test_headers_come_before_the_envelope() -> None:
    msg = message(to=("pomoc-dynamics@example.com",))
    decision = route(msg, QUEUES, envelope_rcpts=["pomoc-powerbi@example.com"])
    assert decision.queue == DYNAMICS
    assert decision.also == ("pomoc-powerbi@example.com",)


@pytest.mark.parametrize(("header", "rule"), [("Delivered-To", "delivered-to"), ("X-Original-To", "x-original-to")])
def test_delivery_headers_are_the_last_resort(header: str, rule: str) -> None:
    msg = message(to=("list@lists.example.org",), headers=((header, "pomoc-powerbi@example.com"),))
    decision = route(msg, QUEUES)
    assert (decision.queue, decision.rule) == (POWERBI, rule)


def test_catch_all_takes_mail_no_queue_serves() -> None:
    msg = message(to=("sales@example.com",))
    decision = route(msg, (*QUEUES, CATCH_ALL), envelope_rcpts=["sales@example.com"])
    assert (decision.queue, decision.rule, decision.address) == (CATCH_ALL, "catch-all", "sales@example.com")


def test_catch_all_does_not_take_mail_for_another_queue() -> None:
    decision = route(message(cc=("soporte@example.es",)), (CATCH_ALL, *QUEUES))
    assert decision.queue == SOPORTE


def test_unroutable_without_catch_all_names_the_recipients() -> None:
    msg = message(to=("Sales@Example.com",), cc=("pomoc-dynamics@example.org",))
    with pytest.raises(Unroutable, match="sales@example.com, pomoc-dynamics@example.org") as caught:
        route(msg, QUEUES)
    assert isinstance(caught.value, MailbridgeError)


def test_unroutable_without_any_recipient() -> None:
    with pytest.raises(Unroutable, match="no recipients"):
        route(message(), QUEUES)


def test_queue_for_address() -> None:
    assert queue_for_address("<Soporte+X@Example.ES>", QUEUES) == SOPORTE
    assert queue_for_address("soporte@example.com", QUEUES) is None
    assert queue_for_address("not-an-address", QUEUES) is None


@pytest.mark.parametrize(
    ("address", "tag", "base"),
    [
        ("support+1234abcdefghij@example.com", "1234abcdefghij", "support@example.com"),
        ("Support+Tag@Example.com", "Tag", "support@example.com"),
        ("support+a+b@example.com", "a+b", "support@example.com"),
        ("support+@example.com", None, "support@example.com"),
        ("support@example.com", None, "support@example.com"),
        ("<support+x@example.com>", "x", "support@example.com"),
        ("nobody", None, "nobody"),
    ],
)
def test_plus_tag_and_base_address(address: str, tag: str | None, base: str) -> None:
    assert plus_tag(address) == tag
    assert base_address(address) == base
