"""Generate realistic support mail (Polish, Spanish, English) as raw bytes, deterministically from a seed."""

from __future__ import annotations

import base64
import binascii
import html
import random
import textwrap
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import quote

PRODUCT_ADDRESSES = (
    "pomoc-dynamics@example.com",
    "pomoc-powerbi@example.com",
    "soporte@example.com",
    "support@example.com",
    "critical@example.com",
)

# Which product line each address serves, its ticket prefix, and the language it mostly hears.
_PRODUCTS = {
    "pomoc-dynamics@example.com": ("Dynamics 365", "DYN", "pl"),
    "pomoc-powerbi@example.com": ("Power BI", "PBI", "pl"),
    "soporte@example.com": ("Dynamics 365", "SOP", "es"),
    "support@example.com": ("Power BI", "SUP", "en"),
    "critical@example.com": ("Azure SQL", "CRT", "en"),
}

LANGUAGES = ("pl", "es", "en")
_LANGUAGE_WEIGHTS = (40, 30, 30)

# The kinds of mail a support address receives, with how often each one arrives.
KINDS = ("plain", "alternative", "html-only", "attachment", "reply", "outlook-reply", "auto-reply", "bounce")
_KIND_WEIGHTS = (28, 22, 6, 12, 14, 10, 4, 4)

# Customers' clients pick these charsets; Polish legacy clients still send windows-1250 and ISO-8859-2.
_CHARSETS = {
    "pl": (("utf-8", 60), ("windows-1250", 20), ("iso-8859-2", 20)),
    "es": (("utf-8", 65), ("iso-8859-1", 25), ("windows-1252", 10)),
    "en": (("utf-8", 80), ("iso-8859-1", 10), ("us-ascii", 10)),
}

_FIRST_NAMES = {
    "pl": "Łukasz Małgorzata Paweł Agnieszka Michał Katarzyna Wojciech Józef Zofia Grzegorz Jan Anna".split(),
    "es": "José María Lucía Andrés Sofía Martín Camila Nicolás Valentina Carlos Ana Pablo".split(),
    "en": "John Emma Michael Olivia James Sarah David Laura Robert Emily Peter Grace".split(),
}
_LAST_NAMES = {
    "pl": "Kowalski Wiśniewska Wójcik Nowak Kamiński Lewandowska Zieliński Szymańska Dąbrowski Kozłowska".split(),
    "es": "García Rodríguez Martínez López González Pérez Sánchez Ramírez Gómez Díaz Muñoz Peña".split(),
    "en": "Smith Johnson Brown Taylor Wilson Davies Evans Thomas Roberts Walker Wright Hughes".split(),
}
_DOMAINS = {
    "pl": ("firma.pl", "hurtownia-abc.com.pl", "wp.pl", "onet.pl", "interia.pl", "budimex-test.pl"),
    "es": ("empresa.es", "gmail.com", "distribuciones.co", "hotmail.es", "grupo-andino.com.co"),
    "en": ("acme.co.uk", "gmail.com", "outlook.com", "contoso.com", "northwind.example.org"),
}

_GREETINGS = {
    "pl": ("Dzień dobry,", "Witam,", "Dzień dobry Państwu,", "Szanowni Państwo,", "Cześć,"),
    "es": ("Hola,", "Buenos días,", "Buenas tardes,", "Estimados,", "Estimado equipo de soporte:"),
    "en": ("Hello,", "Hi,", "Dear support team,", "Good morning,", "Hi there,"),
}
_PROBLEMS = {
    "pl": (
        "od wczoraj nie mogę zalogować się do {product}, pojawia się błąd {code}.",
        "raport sprzedaży w {product} nie odświeża się od poniedziałku.",
        "mam problem z fakturą nr FV/{number}/2026, kwota nie zgadza się z zamówieniem.",
        "po aktualizacji {product} nie działa eksport do Excela.",
        "użytkownicy z działu księgowości nie widzą pulpitu nawigacyjnego w {product}.",
        "synchronizacja danych z magazynem zatrzymała się dziś rano o {hour}:00.",
    ),
    "es": (
        "desde ayer no puedo iniciar sesión en {product}, aparece el error {code}.",
        "el informe de ventas de {product} no se actualiza desde el lunes.",
        "tengo un problema con la factura número {number}, el importe no coincide con el pedido.",
        "después de la actualización de {product} no funciona la exportación a Excel.",
        "los usuarios de contabilidad no ven el panel en {product}.",
        "la sincronización con el almacén se detuvo hoy a las {hour}:00.",
    ),
    "en": (
        "since yesterday I cannot log in to {product}, it shows error {code}.",
        "the sales report in {product} has not refreshed since Monday.",
        "there is a problem with invoice number {number}, the amount does not match the order.",
        "after the {product} update the export to Excel no longer works.",
        "users in accounting cannot see the dashboard in {product}.",
        "the warehouse sync stopped this morning at {hour}:00.",
    ),
}
_DETAILS = {
    "pl": (
        "Sprawdziłem to na dwóch komputerach i w dwóch przeglądarkach.",
        "Problem dotyczy około {number} rekordów.",
        "W załączeniu przesyłam zrzut ekranu z komunikatem.",
        "To pilne, bo jutro zamykamy miesiąc.",
        "Próbowaliśmy już wylogować się i zalogować ponownie, bez skutku.",
    ),
    "es": (
        "Lo he comprobado en dos equipos y en dos navegadores.",
        "El problema afecta a unos {number} registros.",
        "Adjunto una captura de pantalla con el mensaje.",
        "Es urgente porque mañana cerramos el mes.",
        "Ya intentamos cerrar sesión y volver a entrar, sin éxito.",
    ),
    "en": (
        "I checked it on two computers and in two browsers.",
        "About {number} records are affected.",
        "Please find a screenshot of the message attached.",
        "This is urgent because we close the month tomorrow.",
        "We already tried logging out and in again, without success.",
    ),
}
_REQUESTS = {
    "pl": ("Proszę o pomoc.", "Proszę o pilny kontakt.", "Czy mogą Państwo to sprawdzić?"),
    "es": ("¿Podrían ayudarnos?", "Quedo atento a su respuesta.", "Por favor, revísenlo lo antes posible."),
    "en": ("Could you please help?", "Please get back to me as soon as possible.", "Can you look into it?"),
}
_CLOSINGS = {
    "pl": ("Pozdrawiam", "Z poważaniem", "Serdecznie pozdrawiam", "Dziękuję i pozdrawiam"),
    "es": ("Saludos", "Un saludo", "Atentamente", "Saludos cordiales"),
    "en": ("Best regards", "Kind regards", "Thanks", "Cheers"),
}
_SUBJECTS = {
    "pl": ("Problem z logowaniem do {product}", "Błąd {code} w {product}", "Faktura FV/{number}/2026 - błędna kwota",
           "Raport się nie odświeża", "Pilne: synchronizacja zatrzymana", "Zgłoszenie: eksport do Excela"),
    "es": ("Problema al iniciar sesión en {product}", "Error {code} en {product}", "Factura {number} con importe erróneo",
           "El informe no se actualiza", "Urgente: sincronización detenida", "Solicitud: exportación a Excel"),
    "en": ("Cannot log in to {product}", "Error {code} in {product}", "Invoice {number} has the wrong amount",
           "Report not refreshing", "Urgent: sync stopped", "Request: Excel export broken"),
}
_FOLLOW_UPS = {
    "pl": ("Dziękuję, teraz działa.", "Niestety problem nadal występuje.", "W załączeniu dodatkowy zrzut ekranu.",
           "Dzięki za szybką odpowiedź!", "Sprawdziłem jeszcze raz i błąd pojawia się tylko rano."),
    "es": ("Gracias, ya funciona.", "Lamentablemente el problema continúa.", "Adjunto otra captura de pantalla.",
           "¡Gracias por la rápida respuesta!", "Lo revisé otra vez y el error solo aparece por la mañana."),
    "en": ("Thanks, it works now.", "Unfortunately the problem is still there.", "Attached is another screenshot.",
           "Thanks for the quick reply!", "I checked again and the error only shows up in the morning."),
}
_AGENT_ANSWERS = {
    "pl": "Dzień dobry,\n\ndziękujemy za zgłoszenie. Proszę wyczyścić pamięć podręczną przeglądarki i spróbować ponownie.\n\nPozdrawiamy\nZespół wsparcia",
    "es": "Hola,\n\ngracias por su mensaje. Por favor, borre la caché del navegador e inténtelo de nuevo.\n\nSaludos\nEquipo de soporte",
    "en": "Hello,\n\nthank you for your message. Please clear the browser cache and try again.\n\nBest regards\nSupport team",
}
_TEAM_NAMES = {"pl": "Zespół wsparcia", "es": "Equipo de soporte", "en": "Support team"}
_REPLY_PREFIXES = {"pl": ("Odp:", "RE:", "Re:"), "es": ("RE:", "Re:"), "en": ("Re:", "RE:")}
_MONTHS = {
    "pl": "sty lut mar kwi maj cze lip sie wrz paź lis gru".split(),
    "es": "ene feb mar abr may jun jul ago sept oct nov dic".split(),
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
}
_WEEKDAYS = {
    "pl": "pon. wt. śr. czw. pt. sob. niedz.".split(),
    "es": "lun mar mié jue vie sáb dom".split(),
    "en": "Mon Tue Wed Thu Fri Sat Sun".split(),
}
# Gmail, Thunderbird and Apple Mail style lines that introduce ">"-quoted history.
_QUOTE_HEADERS = {
    "pl": ("Dnia {day}.{month:02d}.{year} o {time}, {name} <{address}> napisał(a):",
           "W dniu {weekday}, {day} {mon} {year} o {time} {name} <{address}> napisał(a):"),
    "es": ("El {weekday}, {day} {mon} {year} a las {time}, {name} (<{address}>) escribió:",
           "El {day}/{month:02d}/{year}, a las {time}, {name} <{address}> escribió:"),
    "en": ("On {weekday}, {mon} {day}, {year} at {time} {name} <{address}> wrote:",
           "On {day}/{month:02d}/{year} {time}, {name} wrote:"),
}
# Outlook's header block labels (From, Sent, To, Subject) and its "original message" separator.
_OUTLOOK_LABELS = {
    "pl": ("Od", "Wysłano", "Do", "Temat", "-----Wiadomość oryginalna-----"),
    "es": ("De", "Enviado el", "Para", "Asunto", "-----Mensaje original-----"),
    "en": ("From", "Sent", "To", "Subject", "-----Original Message-----"),
}
_AUTO_SUBJECTS = {
    "pl": ("Automatyczna odpowiedź: {subject}", "Nieobecność: {subject}"),
    "es": ("Respuesta automática: {subject}", "Fuera de la oficina: {subject}"),
    "en": ("Automatic reply: {subject}", "Out of Office: {subject}"),
}
_AUTO_BODIES = {
    "pl": "Dzień dobry,\n\njestem na urlopie do {day}.{month:02d}. W pilnych sprawach proszę pisać na biuro@{domain}.\n\nPozdrawiam",
    "es": "Hola,\n\nestoy fuera de la oficina hasta el {day}/{month:02d}. Para asuntos urgentes escriba a oficina@{domain}.\n\nSaludos",
    "en": "Hello,\n\nI am out of the office until {month:02d}/{day}. For urgent matters please write to office@{domain}.\n\nRegards",
}
_ATTACHMENT_NAMES = {
    "pl": ("faktura_{number}.pdf", "zrzut ekranu {number}.png", "Zamówienie nr {number}.pdf", "błąd.png"),
    "es": ("factura_{number}.pdf", "captura de pantalla {number}.png", "Pedido nº {number}.pdf", "error.png"),
    "en": ("invoice-{number}.pdf", "screenshot {number}.png", "Order {number}.pdf", "error.png"),
}
_MAILERS = (
    "Microsoft Outlook 16.0", "Mozilla Thunderbird 115.8.1", "Apple Mail (2.3774.500.171.1.1)",
    "Android Gmail", "iPhone Mail (21D61)", None,
)
_START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
_ZONES = {"pl": (1, 2), "es": (1, -5, -3), "en": (0, 1, -5)}


@dataclass(frozen=True, slots=True)
class GeneratedMail:
    """One generated message with what the generator meant it to be."""

    raw: bytes
    kind: str
    language: str
    charset: str
    message_id: str
    recipient: str


@dataclass(frozen=True, slots=True)
class _Sent:
    """What a later reply needs to know about an earlier message."""

    message_id: str
    references: tuple[str, ...]
    subject: str
    name: str
    address: str
    recipient: str
    date: datetime
    body: str


def generate(n: int, seed: int = 1) -> list[bytes]:
    """`n` raw messages; the same seed always gives the same bytes."""
    return list(iter_messages(n, seed))


def iter_messages(n: int, seed: int = 1) -> Iterator[bytes]:
    """The messages of `generate(n, seed)` one at a time, for corpora too big to hold."""
    return (mail.raw for mail in iter_mails(n, seed))


def iter_mails(n: int, seed: int = 1) -> Iterator[GeneratedMail]:
    """The same messages with their kind, language and charset, for tests and reports."""
    generator = MailGenerator(seed)
    for _ in range(n):
        yield generator.next_mail()


class MailGenerator:
    """Produces one message after another; replies point at messages produced earlier."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.count = 0
        self.now = _START
        # Only recent messages are remembered, so memory stays flat for any corpus size.
        self.history: dict[str, deque[_Sent]] = {lang: deque(maxlen=200) for lang in LANGUAGES}

    def next_mail(self) -> GeneratedMail:
        rng = self.rng
        self.count += 1
        self.now += timedelta(minutes=rng.randint(1, 40), seconds=rng.randint(0, 59))
        kind = rng.choices(KINDS, _KIND_WEIGHTS)[0]
        lang = rng.choices(LANGUAGES, _LANGUAGE_WEIGHTS)[0]
        if kind in ("reply", "outlook-reply") and not self.history[lang]:
            kind = "plain"
        charset = _pick_charset(rng, lang, kind)
        build = _BUILDERS[kind]
        headers, body, sent = build(self, lang, charset)
        raw = _assemble(headers, body)
        if sent is not None:
            self.history[lang].append(sent)
        # Bounces are written by MTAs, in English, whatever the customer's language.
        lang = "en" if kind == "bounce" else lang
        return GeneratedMail(raw, kind, lang, charset, headers["Message-ID"], headers["To"])

    # -- the pieces every message needs ------------------------------------------------------------

    def message_id(self, domain: str) -> str:
        return f"<{self.seed}.{self.count}.{self.rng.getrandbits(40):010x}@{domain}>"

    def person(self, lang: str) -> tuple[str, str]:
        rng = self.rng
        first, last = rng.choice(_FIRST_NAMES[lang]), rng.choice(_LAST_NAMES[lang])
        local = f"{_ascii(first)}.{_ascii(last)}".lower()
        return f"{first} {last}", f"{local}@{rng.choice(_DOMAINS[lang])}"

    def recipient(self, lang: str) -> str:
        same = [a for a, (_, _, product_lang) in _PRODUCTS.items() if product_lang == lang]
        # Most mail goes to the address of the customer's language, some to any other.
        return self.rng.choice(same) if self.rng.random() < 0.8 else self.rng.choice(PRODUCT_ADDRESSES)

    def fill(self, template: str, recipient: str) -> str:
        rng = self.rng
        return template.format(product=_PRODUCTS[recipient][0], code=rng.choice((401, 403, 500, 502, 1004)),
                               number=rng.randint(100, 99999), hour=rng.randint(6, 11))

    def body_text(self, lang: str, recipient: str, name: str) -> str:
        rng = self.rng
        problem = self.fill(rng.choice(_PROBLEMS[lang]), recipient)
        details = [self.fill(d, recipient) for d in rng.sample(_DETAILS[lang], rng.randint(1, 3))]
        paragraph = _capitalise(problem) + " " + " ".join(details)
        request = rng.choice(_REQUESTS[lang])
        return f"{rng.choice(_GREETINGS[lang])}\n\n{paragraph}\n{request}\n\n{rng.choice(_CLOSINGS[lang])}\n{name}\n"

    def common_headers(self, lang: str, charset: str, name: str, address: str, recipient: str,
                       subject: str) -> dict[str, str]:
        rng = self.rng
        domain = address.split("@")[1]
        zone = timezone(timedelta(hours=rng.choice(_ZONES[lang])))
        headers = {
            "Return-Path": f"<{address}>",
            "Received": _received(rng, domain, recipient, self.now),
            "Date": format_datetime(self.now.astimezone(zone)),
            "From": _address_header(rng, name, address, charset),
            "To": recipient,
            "Subject": _subject_header(rng, subject, charset),
            "Message-ID": self.message_id(domain),
            "MIME-Version": "1.0",
        }
        if rng.random() < 0.2:
            cc_name, cc_address = self.person(lang)
            headers["Cc"] = _address_header(rng, cc_name, cc_address, charset)
        mailer = rng.choice(_MAILERS)
        if mailer:
            headers["X-Mailer"] = mailer
        if rng.random() < 0.4:
            headers["DKIM-Signature"] = _dkim(rng, domain)
        return headers

    def new_request(self, lang: str, charset: str) -> tuple[dict[str, str], str, _Sent]:
        """Headers and text of a customer's first mail, plus its record for later replies."""
        recipient = self.recipient(lang)
        name, address = self.person(lang)
        subject = self.fill(self.rng.choice(_SUBJECTS[lang]), recipient)
        text = self.body_text(lang, recipient, name)
        headers = self.common_headers(lang, charset, name, address, recipient, subject)
        sent = _Sent(headers["Message-ID"], (), subject, name, address, recipient, self.now, text)
        return headers, text, sent


# -- one builder per kind: each returns (headers, body bytes, record for replies or None) ----------

def _build_plain(gen: MailGenerator, lang: str, charset: str):
    headers, text, sent = gen.new_request(lang, charset)
    part_headers, body = _text_part(gen.rng, text, "plain", charset)
    headers.update(part_headers)
    return headers, body, sent


def _build_alternative(gen: MailGenerator, lang: str, charset: str):
    headers, text, sent = gen.new_request(lang, charset)
    with_image = gen.rng.random() < 0.25
    html_body = _html_from_text(text, image_cid="logo001@local" if with_image else None)
    alternative = _multipart(gen.rng, "alternative", [
        _text_part(gen.rng, text, "plain", charset),
        _text_part(gen.rng, html_body, "html", charset),
    ])
    if with_image:
        image = _inline_image(gen.rng, "logo001@local")
        alternative = _multipart(gen.rng, "related", [alternative, image], 'type="multipart/alternative"')
    headers.update(alternative[0])
    return headers, alternative[1], sent


def _build_html_only(gen: MailGenerator, lang: str, charset: str):
    headers, text, sent = gen.new_request(lang, charset)
    part_headers, body = _text_part(gen.rng, _html_from_text(text), "html", charset)
    headers.update(part_headers)
    return headers, body, sent


def _build_attachment(gen: MailGenerator, lang: str, charset: str):
    rng = gen.rng
    headers, text, sent = gen.new_request(lang, charset)
    if rng.random() < 0.5:
        first = _text_part(rng, text, "plain", charset)
    else:
        first = _multipart(rng, "alternative", [_text_part(rng, text, "plain", charset),
                                                 _text_part(rng, _html_from_text(text), "html", charset)])
    files = [_attachment(rng, lang) for _ in range(rng.choice((1, 1, 1, 2)))]
    mixed = _multipart(rng, "mixed", [first, *files])
    headers.update(mixed[0])
    return headers, mixed[1], sent


def _build_reply(gen: MailGenerator, lang: str, charset: str):
    rng = gen.rng
    original = rng.choice(gen.history[lang])
    headers, text, sent = _reply_basics(gen, lang, charset, original)
    header_line = rng.choice(_QUOTE_HEADERS[lang]).format(**_date_fields(lang, original.date),
                                                          name=_TEAM_NAMES[lang], address=original.recipient)
    quoted = _quote(_AGENT_ANSWERS[lang] + "\n\n" + _quote(original.body))
    full = f"{text}\n{header_line}\n{quoted}\n"
    part_headers, body = _text_part(rng, full, "plain", charset)
    headers.update(part_headers)
    return headers, body, sent


def _build_outlook_reply(gen: MailGenerator, lang: str, charset: str):
    rng = gen.rng
    original = rng.choice(gen.history[lang])
    headers, text, sent = _reply_basics(gen, lang, charset, original)
    headers["Thread-Index"] = base64.b64encode(rng.randbytes(22)).decode()
    team = (_TEAM_NAMES[lang], original.recipient)
    customer = (original.name, original.address)
    answer = _outlook_block(rng, lang, original, team, customer, f"RE: {original.subject}")
    question = _outlook_block(rng, lang, original, customer, team, original.subject)
    full = f"{text}\n{answer}\n\n{_AGENT_ANSWERS[lang]}\n\n{question}\n\n{original.body}"
    alternative = _multipart(rng, "alternative", [
        _text_part(rng, full, "plain", charset),
        _text_part(rng, _html_from_text(full), "html", charset),
    ])
    headers.update(alternative[0])
    return headers, alternative[1], sent


def _build_auto_reply(gen: MailGenerator, lang: str, charset: str):
    rng = gen.rng
    recipient = gen.recipient(lang)
    name, address = gen.person(lang)
    ticket = f"[{_PRODUCTS[recipient][1]}-{rng.randint(1, 999999):06d}]"
    subject = rng.choice(_AUTO_SUBJECTS[lang]).format(subject=f"{ticket} {gen.fill(rng.choice(_SUBJECTS[lang]), recipient)}")
    headers = gen.common_headers(lang, charset, name, address, recipient, subject)
    headers["In-Reply-To"] = f"<ack.{rng.getrandbits(32):08x}@example.com>"
    _add_auto_signals(rng, headers)
    now = gen.now + timedelta(days=rng.randint(3, 14))
    text = _AUTO_BODIES[lang].format(day=now.day, month=now.month, domain=address.split("@")[1]) + f"\n{name}\n"
    part_headers, body = _text_part(rng, text, "plain", charset)
    headers.update(part_headers)
    return headers, body, None


def _build_bounce(gen: MailGenerator, lang: str, charset: str):
    rng = gen.rng
    recipient = gen.recipient(lang)
    failed = gen.person(lang)[1]
    delayed = rng.random() < 0.2
    original_id = f"<ack.{rng.getrandbits(32):08x}@example.com>"
    subject = "Delayed Mail (still being retried)" if delayed else rng.choice(
        ("Undelivered Mail Returned to Sender", "Delivery Status Notification (Failure)",
         "Mail delivery failed: returning message to sender"))
    headers = gen.common_headers(lang, "us-ascii", "Mail Delivery System", "MAILER-DAEMON@mx1.example.net",
                                 recipient, subject)
    for key in ("Cc", "X-Mailer", "DKIM-Signature"):
        headers.pop(key, None)
    headers["Return-Path"] = "<>"
    headers["Auto-Submitted"] = "auto-replied"
    report = _multipart(rng, "report", [
        _text_part(rng, _bounce_explanation(failed, delayed), "plain", "us-ascii"),
        _delivery_status(failed, delayed, gen.now),
        _returned_headers(recipient, failed, original_id, gen.now),
    ], 'report-type="delivery-status"')
    headers.update(report[0])
    return headers, report[1], None


_BUILDERS = {
    "plain": _build_plain,
    "alternative": _build_alternative,
    "html-only": _build_html_only,
    "attachment": _build_attachment,
    "reply": _build_reply,
    "outlook-reply": _build_outlook_reply,
    "auto-reply": _build_auto_reply,
    "bounce": _build_bounce,
}


# -- replies ----------------------------------------------------------------------------------------

def _reply_basics(gen: MailGenerator, lang: str, charset: str, original: _Sent):
    """Headers and new text of a customer's follow-up in the thread of `original`."""
    rng = gen.rng
    ticket = f"[{_PRODUCTS[original.recipient][1]}-{rng.randint(1, 999999):06d}]"
    subject = f"{rng.choice(_REPLY_PREFIXES[lang])} {ticket} {original.subject}"
    text = f"{rng.choice(_FOLLOW_UPS[lang])}\n\n{rng.choice(_CLOSINGS[lang])}\n{original.name}\n"
    headers = gen.common_headers(lang, charset, original.name, original.address, original.recipient, subject)
    # The customer answers our agent's reply, which itself answered the original message.
    agent_reply = f"<reply.{rng.getrandbits(40):010x}@example.com>"
    references = (*original.references, original.message_id, agent_reply)
    headers["In-Reply-To"] = agent_reply
    # Long References fields are folded one id per line, as most clients do.
    headers["References"] = "\n ".join(references)
    sent = _Sent(headers["Message-ID"], references, original.subject, original.name, original.address,
                 original.recipient, gen.now, text)
    return headers, text, sent


def _quote(text: str) -> str:
    return "\n".join(">" if not line else f"> {line}" if not line.startswith(">") else f">{line}"
                     for line in text.rstrip("\n").split("\n"))


def _outlook_block(rng: random.Random, lang: str, original: _Sent, sender: tuple[str, str],
                   to: tuple[str, str], subject: str) -> str:
    """Outlook's unquoted "From / Sent / To / Subject" block that opens each earlier message."""
    from_label, sent_label, to_label, subject_label, separator = _OUTLOOK_LABELS[lang]
    when = _date_fields(lang, original.date if sender[1] == original.address else original.date + timedelta(hours=2))
    top = separator if rng.random() < 0.4 else "_" * 32
    return (f"{top}\n{from_label}: {sender[0]} <{sender[1]}>\n"
            f"{sent_label}: {when['weekday']}, {when['day']} {when['mon']} {when['year']} {when['time']}\n"
            f"{to_label}: {to[0]} <{to[1]}>\n{subject_label}: {subject}")


def _date_fields(lang: str, when: datetime) -> dict:
    return {"day": when.day, "month": when.month, "year": when.year, "time": when.strftime("%H:%M"),
            "mon": _MONTHS[lang][when.month - 1], "weekday": _WEEKDAYS[lang][when.weekday()]}


def _add_auto_signals(rng: random.Random, headers: dict[str, str]) -> None:
    """Real auto-replies carry different signals; some (Outlook's) carry only the subject."""
    style = rng.choice(("rfc3834", "rfc3834", "x-autoreply", "precedence", "subject-only"))
    if style == "rfc3834":
        headers["Auto-Submitted"] = "auto-replied"
    elif style == "x-autoreply":
        headers["X-Autoreply"] = "yes"
    elif style == "precedence":
        headers["Precedence"] = "auto_reply"
    else:
        headers["X-Auto-Response-Suppress"] = "All"


# -- bounces ----------------------------------------------------------------------------------------

def _bounce_explanation(failed: str, delayed: bool) -> str:
    if delayed:
        return (f"This is the mail system at host mx1.example.net.\n\n####### THIS IS A WARNING ONLY. "
                f"YOU DO NOT NEED TO RESEND YOUR MESSAGE. #######\n\nDelivery to <{failed}> is delayed: "
                "connection timed out. The mail system will keep trying for 4 more days.\n")
    return (f"This is the mail system at host mx1.example.net.\n\nI'm sorry to have to inform you that your "
            f"message could not be delivered to one or more recipients.\n\n<{failed}>: host "
            f"mx.{failed.split('@')[1]} said: 550 5.1.1 <{failed}>: Recipient address rejected: "
            "User unknown in virtual mailbox table (in reply to RCPT TO command)\n")


def _delivery_status(failed: str, delayed: bool, now: datetime) -> tuple[dict[str, str], bytes]:
    action, status = ("delayed", "4.4.1") if delayed else ("failed", "5.1.1")
    diagnostic = "X-Postfix; connect to mx: Connection timed out" if delayed else (
        f"smtp; 550 5.1.1 <{failed}>: Recipient address rejected: User unknown")
    text = (f"Reporting-MTA: dns; mx1.example.net\nX-Postfix-Queue-ID: 4F{now.strftime('%H%M%S')}A2\n"
            f"Arrival-Date: {format_datetime(now)}\n\nFinal-Recipient: rfc822; {failed}\n"
            f"Original-Recipient: rfc822;{failed}\nAction: {action}\nStatus: {status}\n"
            f"Remote-MTA: dns; mx.{failed.split('@')[1]}\nDiagnostic-Code: {diagnostic}\n")
    return {"Content-Type": "message/delivery-status", "Content-Description": "Delivery report"}, text.encode()


def _returned_headers(sender: str, failed: str, original_id: str, now: datetime) -> tuple[dict[str, str], bytes]:
    text = (f"Return-Path: <{sender}>\nDate: {format_datetime(now - timedelta(minutes=3))}\nFrom: {sender}\n"
            f"To: {failed}\nSubject: [TICKET] Confirmation\nMessage-ID: {original_id}\nAuto-Submitted: auto-replied\n")
    return {"Content-Type": "text/rfc822-headers", "Content-Description": "Undelivered Message Headers"}, text.encode()


# -- MIME parts: each is (headers, body bytes) -------------------------------------------------------

def _text_part(rng: random.Random, text: str, subtype: str, charset: str) -> tuple[dict[str, str], bytes]:
    data = text.encode(charset)
    if data.isascii():
        cte = "7bit"
    elif charset == "utf-8":
        cte = rng.choice(("quoted-printable", "quoted-printable", "base64", "8bit"))
    else:
        cte = rng.choice(("quoted-printable", "8bit"))
    flowed = subtype == "plain" and rng.random() < 0.15
    if flowed:
        data = _flow(text).encode(charset)
    params = "; format=flowed" if flowed else ""
    headers = {"Content-Type": f'text/{subtype}; charset="{charset}"{params}', "Content-Transfer-Encoding": cte}
    return headers, _encode_body(data, cte)


def _flow(text: str) -> str:
    """RFC 3676 format=flowed: long lines wrapped at 72, each soft break marked by a trailing space."""
    return "\n".join(_flow_line(line) for line in text.split("\n"))


def _flow_line(line: str) -> str:
    if len(line) <= 72 or line.startswith(">"):
        return line
    wrapped = textwrap.wrap(line, 71, break_long_words=False, break_on_hyphens=False)
    return " \n".join(wrapped)


def _encode_body(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        return binascii.b2a_qp(data)
    return data


def _html_from_text(text: str, image_cid: str | None = None) -> str:
    paragraphs = "".join(f'<p class="MsoNormal">{html.escape(p).replace(chr(10), "<br>")}</p>\n'
                         for p in text.split("\n\n") if p.strip())
    image = f'<p><img src="cid:{image_cid}" alt="logo" width="120" height="40"></p>\n' if image_cid else ""
    return ('<html><head><meta http-equiv="Content-Type" content="text/html">\n'
            "<style>p.MsoNormal{margin:0cm;font-family:Calibri,sans-serif;font-size:11pt}</style></head>\n"
            f'<body style="word-wrap:break-word"><div class="WordSection1">\n{paragraphs}{image}</div>'
            "</body></html>\n")


def _multipart(rng: random.Random, subtype: str, parts: list[tuple[dict[str, str], bytes]],
               extra: str = "") -> tuple[dict[str, str], bytes]:
    boundary = f"----=_Part_{rng.getrandbits(48):012x}"
    params = f'; {extra}' if extra else ""
    chunks = [b"This is a multi-part message in MIME format.\n"]
    for headers, body in parts:
        chunks.append(f"\n--{boundary}\n".encode() + _header_block(headers) + b"\n" + body)
    chunks.append(f"\n--{boundary}--\n".encode())
    return {"Content-Type": f'multipart/{subtype}; boundary="{boundary}"{params}'}, b"".join(chunks)


def _attachment(rng: random.Random, lang: str) -> tuple[dict[str, str], bytes]:
    size = rng.randint(10_000, 200_000)
    name = rng.choice(_ATTACHMENT_NAMES[lang]).format(number=rng.randint(100, 9999))
    if name.endswith(".pdf"):
        content_type, data = "application/pdf", _pdf_like(rng, size)
    else:
        content_type, data = "image/png", _png_like(rng, size)
    headers = {
        "Content-Type": f"{content_type}; name={_filename_param(rng, name, 'name')}",
        "Content-Disposition": f"attachment; {_filename_param(rng, name, 'filename')}",
        "Content-Transfer-Encoding": "base64",
    }
    return headers, base64.encodebytes(data)


def _inline_image(rng: random.Random, cid: str) -> tuple[dict[str, str], bytes]:
    headers = {
        "Content-Type": 'image/png; name="logo.png"',
        "Content-Disposition": 'inline; filename="logo.png"',
        "Content-ID": f"<{cid}>",
        "Content-Transfer-Encoding": "base64",
    }
    return headers, base64.encodebytes(_png_like(rng, rng.randint(2_000, 8_000)))


def _filename_param(rng: random.Random, name: str, key: str) -> str:
    """A filename as clients send it: quoted ASCII, RFC 2231 (Thunderbird) or RFC 2047 (Outlook)."""
    if name.isascii():
        return f'{key}="{name}"' if key == "filename" else f'"{name}"'
    if key == "filename" and rng.random() < 0.6:
        return f"filename*=utf-8''{_percent(name)}"
    encoded = _encoded_words(rng, name, "utf-8", fold=False)
    return f'{key}="{encoded}"' if key == "filename" else f'"{encoded}"'


def _pdf_like(rng: random.Random, size: int) -> bytes:
    head = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\nstream\n"
    return head + rng.randbytes(size) + b"\nendstream\n%%EOF\n"


def _png_like(rng: random.Random, size: int) -> bytes:
    ihdr = b"\x00\x00\x00\rIHDR\x00\x00\x03\x20\x00\x00\x02\x58\x08\x06\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + ihdr + rng.randbytes(4) + rng.randbytes(size) + b"\x00\x00\x00\x00IEND\xaeB`\x82"


# -- headers ----------------------------------------------------------------------------------------

def _subject_header(rng: random.Random, subject: str, charset: str) -> str:
    """An encoded subject; some UTF-8 clients send it as raw 8-bit instead, as real ones do."""
    if subject.isascii():
        return subject
    if charset == "utf-8" and rng.random() < 0.15:
        return subject
    return _encoded_words(rng, subject, charset if charset != "us-ascii" else "utf-8")


def _address_header(rng: random.Random, name: str, address: str, charset: str) -> str:
    if name.isascii():
        return f'"{name}" <{address}>' if rng.random() < 0.5 else f"{name} <{address}>"
    encoding = charset if charset != "us-ascii" else "utf-8"
    return f"{_encoded_words(rng, name, encoding)} <{address}>"


def _encoded_words(rng: random.Random, text: str, charset: str, fold: bool = True) -> str:
    """RFC 2047 words of at most 20 characters each, so no encoded line passes 76 columns."""
    letter = rng.choice("BQ")
    chunks = [text[i:i + 20] for i in range(0, len(text), 20)]
    words = [_encoded_word(chunk.encode(charset), charset, letter) for chunk in chunks]
    return ("\n " if fold else " ").join(words)


def _encoded_word(data: bytes, charset: str, letter: str) -> str:
    if letter == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    quoted = "".join(chr(b) if chr(b).isalnum() and b < 128 else "_" if b == 32 else f"={b:02X}" for b in data)
    return f"=?{charset}?Q?{quoted}?="


def _header_block(headers: dict[str, str]) -> bytes:
    # Raw 8-bit subjects are meant to reach the wire as UTF-8 bytes, exactly as broken clients send them.
    lines = "".join(f"{key}: {value}\n" for key, value in headers.items())
    return lines.encode("utf-8")


def _assemble(headers: dict[str, str], body: bytes) -> bytes:
    """The message on the wire: headers, a blank line, the body, CRLF line ends throughout."""
    raw = _header_block(headers) + b"\n" + body
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _received(rng: random.Random, domain: str, recipient: str, now: datetime) -> str:
    ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
    return (f"from mail.{domain} (mail.{domain} [{ip}])\n\tby mx.example.com (Postfix) with ESMTPS id "
            f"{rng.getrandbits(40):010X}\n\tfor <{recipient}>; {format_datetime(now)}")


def _dkim(rng: random.Random, domain: str) -> str:
    signature = base64.b64encode(rng.randbytes(128)).decode()
    wrapped = "\n\t ".join(signature[i:i + 64] for i in range(0, len(signature), 64))
    return (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=selector1;\n\th=from:to:subject:date:"
            f"message-id; bh={base64.b64encode(rng.randbytes(32)).decode()};\n\tb={wrapped}")


# -- small text helpers -----------------------------------------------------------------------------

def _pick_charset(rng: random.Random, lang: str, kind: str) -> str:
    if kind == "bounce":
        return "us-ascii"
    names, weights = zip(*_CHARSETS[lang])
    charset = rng.choices(names, weights)[0]
    # Plain ASCII cannot carry Polish or Spanish text; those clients fall back to UTF-8.
    return "utf-8" if charset == "us-ascii" and lang != "en" else charset


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _ascii(text: str) -> str:
    folded = text.replace("ł", "l").replace("Ł", "L")
    return unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()


def _percent(text: str) -> str:
    return quote(text, safe="")
