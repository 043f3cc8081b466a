"""The parser's shortcuts give what the general path they skip gives, on tricky inputs too."""

from __future__ import annotations

import random
import re

import pytest

from mailbridge.parse import headers
from mailbridge.parse.bounce_text import BOUNCE_SUBJECT_RE, bounce_subject

_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def _q_by_pattern(payload: str) -> bytes:
    data = payload.encode("utf-8", "surrogateescape").replace(b"_", b" ")
    return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


@pytest.mark.parametrize("subject", [
    "Undelivered Mail Returned to Sender", "UNDELIVERABLE: Zamówienie", "Mensaje RETRASADO",
    "OPÓŹNIENIE W DOSTARCZENIU", "Delivery Status Notification (Failure)", "Pytanie o fakturę",
    "DELİVERY STATUS NOTIFİCATİON (FAİLURE)",  # Turkish dotted capital I: the general path
    "undeliverable \u017f",  # long s
    "Zażółć gęślą jaźń", "Ęntrega retrasada", "",
])
def test_bounce_subject_answers_as_the_case_blind_pattern(subject):
    assert bounce_subject(subject) == bool(BOUNCE_SUBJECT_RE.search(subject))


def test_bounce_subject_answers_as_the_pattern_on_random_mixed_case_phrases():
    rng = random.Random(7)
    phrases = ["undeliverable", "returned mail", "mensaje retrasado", "opóźniona", "delivery failure",
               "failure notice", "hello", "zamówienie"]
    alphabet = "aAiIıİsSſóÓźŹ ąĄ:-x"
    for _ in range(3000):
        text = rng.choice(phrases)
        text = "".join(ch.upper() if rng.random() < 0.4 else ch for ch in text)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3))) + text
        assert bounce_subject(text) == bool(BOUNCE_SUBJECT_RE.search(text)), text


@pytest.mark.parametrize("payload", [
    "Zam=C3=B3wienie_nr_12", "=3D=3d_=5F", "a=ZZb", "=4", "50=25_off", "caf=E9", "=?=", "x=", "a==3D",
    "tab\there", "=C3=", "plain",
])
def test_q_decoding_equals_the_escape_substitution(payload):
    assert headers._q_decode(payload) == _q_by_pattern(payload)


def test_q_decoding_equals_the_escape_substitution_on_random_payloads():
    rng = random.Random(11)
    alphabet = "=_aZ09fF3D\t ?ó"
    for _ in range(20000):
        payload = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert headers._q_decode(payload) == _q_by_pattern(payload), payload
