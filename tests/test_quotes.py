"""Tests for reply_part: fixtures by client and language, a table of small cases, and speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.parse.quotes import _kinds, _prefix_kinds, reply_part

FIXTURES = Path(__file__).parent / "fixtures" / "replies"
CASES = sorted(p for p in FIXTURES.glob("*.txt") if not p.name.endswith(".expected.txt"))


def test_fixtures_are_present():
    assert len(CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture_reply(path: Path):
    expected = path.with_name(path.stem + ".expected.txt").read_text("utf-8").strip("\n")
    assert reply_part(path.read_text("utf-8")) == expected


TABLE = [
    # (behaviour, input, expected)
    ("plain text stays", "Hello\nworld", "Hello\nworld"),
    ("crlf and trailing spaces", "Line one  \r\nLine two\t\r\n\r\n", "Line one\nLine two"),
    ("cr only line endings", "One\rTwo\r", "One\nTwo"),
    ("leading and trailing blank lines", "\n\n  \nText\n\n\n", "Text"),
    ("empty input", "", ""),
    ("top post with quote", "Yes.\n\nOn Mon, 4 Mar 2024, Ann <a@x.org> wrote:\n> Works?", "Yes."),
    ("trailing quote without attribution", "Yes.\n\n> Works?\n> Really?", "Yes."),
    ("quote only is kept", "> Only a quote.", "> Only a quote."),
    ("signature ending the message goes", "Fixed.\n\n--\nAnn Lee\nACME", "Fixed."),
    ("signature above history stays", "Fixed.\n\n--\nAnn Lee\n\n> Works?", "Fixed.\n\n--\nAnn Lee"),
    ("em dash signature stays", "Arreglado.\n\n—\nAna López\nACME", "Arreglado.\n\n—\nAna López\nACME"),
    ("reply above this line cuts", "Gracias.\n## Please type your reply above this line ##\nTicket 5", "Gracias."),
    ("above this line in a sentence is no marker", "See the table above this line.\nAnd more text.",
     "See the table above this line.\nAnd more text."),
    ("japanese gmail attribution without a verb",
     "ありがとうございます。\n\n2025年4月30日(水) 15:19 Support <s@x.com>:\n> 再起動してください。",
     "ありがとうございます。"),
    ("chinese gmail attribution with full-width colon",
     "谢谢。\n\nSupport <s@x.com> 于2025年4月30日周三 15:19写道：\n> 请重启服务。", "谢谢。"),
    ("korean outlook block", "감사합니다.\n\n보낸 사람: Support <s@x.com>\n보낸 날짜: 2025년 4월 30일\n"
     "받는 사람: 김민수\n제목: 문의\n\n이전 내용", "감사합니다."),
    ("catalan outlook block", "Gràcies.\n\nDe: Suport <s@x.com>\nEnviat: dilluns, 3 de març de 2025\n"
     "Per a: Jordi\nAssumpte: Incidència\n\nText antic", "Gràcies."),
    ("norwegian original message marker", "Takk.\n\n-----Opprinnelig melding-----\nFra: Support\n"
     "Sendt: 3. mars 2025\nTil: Ola\nEmne: Sak\n\nGammel tekst", "Takk."),
    ("german outlook app signature", "Danke.\n\nVon Outlook für Android gesendet", "Danke."),
    ("korean phone signature", "감사합니다.\n\niPhone에서 보냄", "감사합니다."),
    ("catalan phone signature", "Gràcies.\n\nEnviat des del meu iPhone", "Gràcies."),
    ("quote then own text is kept", "> A quote.\n\nMy text.", "> A quote.\n\nMy text."),
    (
        "bottom post drops the quote",
        "On Mon, 4 Mar 2024 at 10:15, Ann <a@x.org> wrote:\n> Question?\n\nAnswer.",
        "Answer.",
    ),
    (
        "interleaved after own text keeps quotes and answers",
        "Hi,\nOn Mon, 4 Mar 2024, Ann wrote:\n> Q1?\n\nA1.\n\n> Q2?\n\nA2.",
        "Hi,\n> Q1?\n\nA1.\n\n> Q2?\n\nA2.",
    ),
    (
        "attribution wrapped over three lines",
        "Fine.\n\nOn Dec 16, 2011, at 12:47 PM, Corey\n<c@example.com>\nwrote:\n\n> Old.",
        "Fine.",
    ),
    (
        "unquoted history after an attribution",
        "New.\n\nOn Mon, 4 Mar 2024 at 10:15 Ann <a@x.org> wrote:\n\nOld text without quoting.",
        "New.",
    ),
    ("polish dnia", "Nowe.\n\nDnia 4.03.2024 o godz. 10:15 Jan <j@x.pl> napisał(a):\n> Stare.", "Nowe."),
    ("polish bare napisal", "Nowe.\n\nJan Kowalski <j@x.pl> napisał(a):\n\nStare.", "Nowe."),
    ("spanish el escribio", "Nuevo.\n\nEl lun, 4 mar 2024 a las 10:15, Ana escribió:\n> Viejo.", "Nuevo."),
    ("german am schrieb", "Neu.\n\nAm 04.03.2024 um 10:15 schrieb Hans <h@x.de>:\n> Alt.", "Neu."),
    ("italian il ha scritto", "Nuovo.\n\nIl 4 marzo 2024 alle 10:15 Anna <a@x.it> ha scritto:\n> Vecchio.", "Nuovo."),
    ("portuguese em escreveu", "Novo.\n\nEm 4 de mar. de 2024 10:15, Ana <a@x.pt> escreveu:\n> Velho.", "Novo."),
    ("dutch op schreef", "Nieuw.\n\nOp 4 mrt. 2024 om 10:15 schreef Jan <j@x.nl>:\n> Oud.", "Nieuw."),
    (
        "outlook block english without separator",
        "Done.\n\nFrom: Ann <a@x.org>\nSent: Monday, March 4, 2024 10:15 AM\nTo: Bob\nSubject: Q\n\nOld.",
        "Done.",
    ),
    (
        "outlook block german with rule",
        "Erledigt.\n_____\nVon: Ann\nGesendet: Montag, 4. März 2024 10:15\nAn: Bob\nBetreff: Frage\n\nAlt.",
        "Erledigt.",
    ),
    (
        "outlook block french with spaced colons",
        "Merci.\n\nDe : Ann <a@x.fr>\nEnvoyé : lundi 4 mars 2024 10:15\nÀ : Bob\nObjet : Q\n\nAncien.",
        "Merci.",
    ),
    (
        "outlook block spanish enviado el",
        "Gracias.\n\nDe: Ana\nEnviado el: lunes, 4 de marzo de 2024 10:15\nPara: Bob\nAsunto: P\n\nViejo.",
        "Gracias.",
    ),
    (
        "three short keys are a list, not a header block",
        "Wniosek o urlop.\n\nOd: 1 marca\nDo: 5 marca\nTemat: urlop\n\nProszę o akceptację.",
        "Wniosek o urlop.\n\nOd: 1 marca\nDo: 5 marca\nTemat: urlop\n\nProszę o akceptację.",
    ),
    ("original message english", "Ok.\n\n-----Original Message-----\nFrom: Ann\nOld.", "Ok."),
    ("original message german", "Ok.\n\n-----Ursprüngliche Nachricht-----\nVon: Ann\nAlt.", "Ok."),
    ("original message spanish", "Ok.\n\n-----Mensaje original-----\nDe: Ana\nViejo.", "Ok."),
    ("forwarded apple", "See below.\n\nBegin forwarded message:\n\nFrom: Ann\nSubject: S\n\nOld.", "See below."),
    ("forwarded polish", "Patrz niżej.\n\n-------- Wiadomość przekazana --------\nTemat: X\n\nStare.", "Patrz niżej."),
    ("iphone signature at end", "Yes.\n\nSent from my iPhone", "Yes."),
    ("german phone signature", "Ja.\n\nVon meinem iPhone gesendet", "Ja."),
    ("polish phone signature", "Tak.\n\nWysłane z iPhone'a", "Tak."),
    ("phone signature not at end is kept", "Sent from my iPhone\n\nBut more text.", "Sent from my iPhone\n\nBut more text."),
    ("sentence starting like a signature", "Hi\n\nSent from my desk, is much easier.", "Hi\n\nSent from my desk, is much easier."),
    ("delimited signature", "Thanks.\n\n-- \nJan\n+48 600 100 200", "Thanks."),
    ("undelimited signature is kept", "Thanks.\n\nJan Kowalski\n+48 600 100 200", "Thanks.\n\nJan Kowalski\n+48 600 100 200"),
    (
        "several double dashes are a listing, not a signature",
        "Parts:\n--\ntext/plain\n--\nimage/gif",
        "Parts:\n--\ntext/plain\n--\nimage/gif",
    ),
    (
        "indented header listing is not a header block",
        "Your message:\n\n  From: Ann <a@x.org>\n  Date: Mon\n  Subject: S\n\nwas not delivered.",
        "Your message:\n\n  From: Ann <a@x.org>\n  Date: Mon\n  Subject: S\n\nwas not delivered.",
    ),
    ("mid-line double dash", "A fix -- not a signature.\n\nBye", "A fix -- not a signature.\n\nBye"),
    ("list footer after a rule", "Question?\n\n_______\nlist mailing list\nhttp://x.org/l", "Question?"),
    (
        "boxed note between rules is kept",
        "See:\n\n=====\nNOTE: compare the boundary.\n=====",
        "See:\n\n=====\nNOTE: compare the boundary.\n=====",
    ),
    ("setext heading is not a rule", "Report\n======\nAll fine.", "Report\n======\nAll fine."),
    ("code fence keeps hashes", "Code:\n```\n####\nx\n```\nEnd.", "Code:\n```\n####\nx\n```\nEnd."),
    ("line starting with On is not an attribution", "On your host run:\n\n  ls", "On your host run:\n\n  ls"),
    ("One is not On", "One question I had:\nWhy?", "One question I had:\nWhy?"),
    ("sentence with wrote is not an attribution", "I wrote to you on 3 May about this:\nIt fails.", "I wrote to you on 3 May about this:\nIt fails."),
    ("two header lines are not a block", "From: Warsaw\nTo: Madrid\nPrice: 10", "From: Warsaw\nTo: Madrid\nPrice: 10"),
    ("stripping everything returns the original", "On Mon, 4 Mar 2024, Ann <a@x.org> wrote:", "On Mon, 4 Mar 2024, Ann <a@x.org> wrote:"),
    ("only a phone signature returns it", "Sent from my iPhone", "Sent from my iPhone"),
]


@pytest.mark.parametrize(("behaviour", "text", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_table(behaviour: str, text: str, expected: str):
    assert reply_part(text) == expected


PATHOLOGICAL = {
    "1 MB of quotes": "Reply.\n\n" + "> quoted history line, long enough to be realistic\n" * 20000,
    "100k lines of >": ">\n" * 100_000,
    "one very long line": "x" * 1_000_000,
    "lines of many spaces": (" " * 5000 + "\n") * 200,
    "deeply nested quotes": "Hi\n" + "".join(">" * i + " On Mon, Ann wrote:\n" for i in range(1, 1500)),
    "long lines ending in a colon": ("word " * 80 + "wrote:\n") * 2000,
    "many attributions": "On Mon, 4 Mar 2024, Ann <a@x.org> wrote:\n" * 10000,
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=list(PATHOLOGICAL))
def test_pathological_input_is_fast(text: str):
    started = time.perf_counter()
    reply_part(text)
    # A generous bound: this catches a blow-up (seconds to hours), not a slow machine.
    assert time.perf_counter() - started < 2.0


LINE_PIECES = [
    "", "text", "> quoted", ">:", "> wrote:", "On Mon, 4 Mar 2024, Ann <a@x.org> wrote:",
    "wrote:", "<a@x.org>", "From: Ann <a@x.org>", "Sent: Monday", "To: Bob", "Subject: S",
    "-----Original Message-----", "Begin forwarded message:", "--", "-- ", "_____", "```",
    "Sent from my iPhone", "2016-03-03 17:21 GMT+01:00 Ann", "C> initials", "Od: Jan",
    "pon., 4 mar 2024 o 10:15 Jan <j@x.pl>", "napisał(a):", "\r", "\t ",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(LINE_PIECES) | st.text(max_size=30), max_size=30))
def test_any_text_gives_a_normalised_non_empty_reply(pieces: list[str]):
    text = "\n".join(pieces)
    reply = reply_part(text)
    lines = reply.split("\n")
    assert "\r" not in reply and all(line == line.rstrip() for line in lines)
    assert reply == reply.strip("\n")
    # Stripping never leaves nothing: a non-blank input gives a non-blank reply.
    assert bool(reply.strip()) == bool(text.strip())



FENCED = ["Text", "```", "> code", "", "```", "> quoted", "```", "unclosed", "> x"]


@pytest.mark.parametrize("cut", range(len(FENCED) + 1))
def test_kinds_of_a_beginning_are_read_off_the_whole(cut: int):
    # reply_part reuses a pass's line kinds for the next pass's lines; a fence whose closing
    # line is cut off is no fence, so there the lines must be classified again.
    assert _prefix_kinds(FENCED[:cut], FENCED, _kinds(FENCED)) == _kinds(FENCED[:cut])
