"""Language detection on support mail: Polish, Spanish and English first, with and without diacritics."""

import pytest

from mailbridge.parse.language import MAX_CHARS, detect_language

POLISH = [
    "Dzień dobry, mam problem z fakturą nr FV/123/2026. Proszę o pomoc.",
    "Dzien dobry, mam problem z faktura",
    "Witam, od wczoraj nie mogę zalogować się do systemu. Pozdrawiam, Anna Nowak",
    "Witam, od wczoraj nie moge zalogowac sie do systemu. Pozdrawiam",
    "Raport w Power BI nie odświeża się od poniedziałku, czy możecie to sprawdzić?",
    "Raport w Power BI nie odswieza sie od poniedzialku, czy mozecie to sprawdzic?",
    "Dziękuję za szybką odpowiedź, wszystko już działa.",
    "Dzien dobry",
    "Dzięki, działa.",
    "Prosze o kontakt",
    "Wysłane z iPhone'a",
    "Niestety problem nadal występuje.\n\nPozdrawiam\nAnna",
]

SPANISH = [
    "Hola, tengo un problema con la factura número 4521 del mes pasado.",
    "Hola, tengo un problema con la factura numero 4521 del mes pasado",
    "Buenos días, ¿podrían ayudarme? No puedo entrar en mi cuenta desde ayer.",
    "Buenos dias, podrian ayudarme? No puedo entrar en mi cuenta desde ayer",
    "Estimados, el informe de ventas no se actualiza. Quedo atento, saludos cordiales.",
    "Muchas gracias por la respuesta, ya funciona todo.",
    "Buenos días",
    "Muchas gracias",
    "Enviado desde mi iPhone",
    "Adjunto otra captura de pantalla.\n\nUn saludo\nValentina",
    "Bom dia no, buenos días: necesito ayuda con la factura",
]

ENGLISH = [
    "Hi, I have a problem with my invoice, could you help?",
    "Hello, since yesterday I cannot log in to the system. Kind regards, John",
    "The dashboard has not refreshed since Monday. Can you check what is wrong?",
    "Thanks for the quick reply, it works now.",
    "Thank you!",
    "Unfortunately the problem is still there.",
]

OTHERS = [
    ("de", "Guten Tag, ich habe ein Problem mit meiner Rechnung. Mit freundlichen Grüßen"),
    ("de", "Hallo, das Passwort funktioniert nicht mehr. Vielen Dank für Ihre Hilfe."),
    ("fr", "Bonjour, j'ai un problème avec ma facture, pouvez-vous m'aider ? Cordialement"),
    ("fr", "Bonjour, le systeme ne fonctionne pas depuis hier. Merci"),
    ("pt", "Olá, tenho um problema com a minha fatura, podem ajudar? Obrigado"),
    ("pt", "Bom dia, preciso de ajuda com a fatura"),
    ("pt", "Bom dia, nao consigo entrar na minha conta desde ontem. Atenciosamente"),
    ("it", "Buongiorno, ho un problema con la fattura, potete aiutarmi? Grazie"),
    ("it", "Salve, il sistema non funziona da ieri. Cordiali saluti"),
]

TOO_LITTLE = ["", "ok", "OK!", "Hello", "Gracias!", "12345 --- 678", "https://example.com/a/b", "jan@firma.pl"]


@pytest.mark.parametrize("text", POLISH)
def test_polish_with_and_without_diacritics(text):
    assert detect_language(text) == "pl"


@pytest.mark.parametrize("text", SPANISH)
def test_spanish_with_and_without_diacritics(text):
    assert detect_language(text) == "es"


@pytest.mark.parametrize("text", ENGLISH)
def test_english(text):
    assert detect_language(text) == "en"


@pytest.mark.parametrize(("expected", "text"), OTHERS)
def test_other_supported_languages(expected, text):
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", TOO_LITTLE)
def test_too_little_text_gives_none(text):
    assert detect_language(text) is None


def test_equal_evidence_for_two_languages_gives_none():
    assert detect_language("Thank you. Muchas gracias.") is None


def test_quoted_history_in_another_language_is_ignored():
    text = (
        "Thanks, that works now.\n\n"
        "> Dnia 12.03.2026 o godz. 10:15 Jan Kowalski napisał(a):\n"
        "> Proszę sprawdzić fakturę, bo nie działa logowanie do systemu.\n"
    )
    assert detect_language(text) == "en"


def test_quote_only_body_falls_back_to_the_quote():
    text = "> Hola, tengo un problema con la factura.\n> Saludos, Maria\n"
    assert detect_language(text) == "es"


def test_polish_name_does_not_outvote_an_english_sentence():
    text = "Hello, please send me the invoice for March again.\nŁukasz Wiśniewski-Żółkiewski"
    assert detect_language(text) == "en"


def test_addresses_and_links_are_not_evidence():
    text = "Hello, see https://www.example.com/la/de/el/que and write to la.de.el@que.es please."
    assert detect_language(text) == "en"


def test_only_the_start_of_a_long_body_is_read():
    text = "Dzień dobry, mam problem z fakturą. " * 200 + "Hello, the invoice is wrong. " * 2000
    assert len(text) > 10 * MAX_CHARS
    assert detect_language(text) == "pl"

