"""Reply tokens and our Message-IDs: round trips, tampering, garbage, case and shape."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbridge.tokens import (
    MAX_TICKET_ID,
    is_our_message_id,
    our_message_id,
    read_ticket_token,
    ticket_from_message_id,
    ticket_token,
)

SECRET = b"3b8f0c7e5a2d4961b7c8e9f0a1b2c3d4"
OTHER_SECRET = b"d4c3b2a1f0e9c8b76914d2a5e7c0f8b3"


@given(st.integers(min_value=0, max_value=MAX_TICKET_ID))
def test_token_round_trip_and_shape(ticket_id: int) -> None:
    token = ticket_token(ticket_id, SECRET)
    assert read_ticket_token(token, SECRET) == ticket_id
    assert len(token) <= 20
    # Lowercase letters and digits only: safe in a URL and in an address's local part.
    assert re.fullmatch(r"[a-z0-9]+", token)


def test_token_is_stable_for_one_secret_and_differs_between_secrets() -> None:
    assert ticket_token(123, SECRET) == ticket_token(123, SECRET)
    assert ticket_token(123, SECRET) != ticket_token(123, OTHER_SECRET)
    assert read_ticket_token(ticket_token(123, OTHER_SECRET), SECRET) is None


def test_token_survives_a_client_that_changes_case() -> None:
    token = ticket_token(4711, SECRET)
    assert read_ticket_token(token.upper(), SECRET) == 4711
    assert read_ticket_token(f" {token.title()} ", SECRET) == 4711


def test_every_single_character_change_is_refused() -> None:
    token = ticket_token(98765, SECRET)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    for position in range(len(token)):
        for char in alphabet:
            if char == token[position]:
                continue
            tampered = token[:position] + char + token[position + 1 :]
            assert read_ticket_token(tampered, SECRET) is None, tampered


def test_another_tickets_number_with_this_tag_is_refused() -> None:
    token = ticket_token(5, SECRET)
    assert read_ticket_token("6" + token[1:], SECRET) is None
    assert read_ticket_token("05" + token[1:], SECRET) is None  # no second spelling of a number


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "anything", "12345", "x" * 200, "12345abcdefghij+", "-1abcdefghij", "żółw1234567890",
     "123ABCDEFGH1"],
)
def test_garbage_is_none_not_an_error(garbage: str) -> None:
    assert read_ticket_token(garbage, SECRET) is None


@pytest.mark.parametrize("ticket_id", [-1, MAX_TICKET_ID + 1])
def test_ticket_id_out_of_range_is_refused(ticket_id: int) -> None:
    with pytest.raises(ValueError):
        ticket_token(ticket_id, SECRET)


def test_our_message_id_round_trip() -> None:
    message_id = our_message_id(42, SECRET, "Example.com")
    assert message_id.endswith("@example.com")
    assert "<" not in message_id and ">" not in message_id
    assert ticket_from_message_id(message_id, SECRET) == 42
    assert ticket_from_message_id(f"<{message_id}>", SECRET) == 42
    assert ticket_from_message_id(message_id.upper(), SECRET) == 42
    assert is_our_message_id(message_id, SECRET)


def test_our_message_ids_are_unique_per_call() -> None:
    assert len({our_message_id(42, SECRET, "example.com") for _ in range(1000)}) == 1000


def test_our_message_id_without_a_ticket_is_ours_but_names_none() -> None:
    message_id = our_message_id(None, SECRET, "example.com")
    assert is_our_message_id(message_id, SECRET)
    assert ticket_from_message_id(message_id, SECRET) is None


def test_our_message_id_stays_ours_after_a_domain_change() -> None:
    message_id = our_message_id(7, SECRET, "old.example.com")
    moved = message_id.replace("old.example.com", "new.example.org")
    assert ticket_from_message_id(moved, SECRET) == 7


@pytest.mark.parametrize(
    "message_id",
    [
        "CAHk8ZJ2x@mail.gmail.com",
        "AM0PR01MB1234.eurprd01.prod.outlook.com",
        "mb.42.abcdefghijkl.abcdefghijklmnop@example.com",
        "mb.x.abcdefghijkl.abcdefghijklmnop@example.com",
        "",
        "<>",
        "mb.42@example.com",
    ],
)
def test_other_message_ids_are_not_ours(message_id: str) -> None:
    assert not is_our_message_id(message_id, SECRET)
    assert ticket_from_message_id(message_id, SECRET) is None


def test_our_message_id_with_a_changed_ticket_number_is_refused() -> None:
    message_id = our_message_id(42, SECRET, "example.com")
    forged = message_id.replace("mb.42.", "mb.43.", 1)
    assert not is_our_message_id(forged, SECRET)
    assert ticket_from_message_id(forged, SECRET) is None
    assert not is_our_message_id(message_id, OTHER_SECRET)



@given(data=st.binary(max_size=40), length=st.integers(min_value=0, max_value=70))
def test_base32_is_the_start_of_rfc4648_base32(data, length):
    """Tags and nonces are cut from base32 made from the bits: the same characters `base64.b32encode` writes."""
    import base64

    from mailbridge.tokens import _base32

    assert _base32(data, length) == base64.b32encode(data).decode("ascii").rstrip("=").lower()[:length]
