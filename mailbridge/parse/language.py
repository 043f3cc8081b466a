"""Guess the language of a mail body (ISO 639-1) from stop words, support vocabulary and letters."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from mailbridge.parse.lazy_re import lazy_compile

# Only the start of a body matters: the new content comes first, and looking further costs time
# on every message without changing the answer.
MAX_CHARS = 4096

# Below this total evidence the text is too short to say anything (one word is not a language).
MIN_SCORE = 2.0

# The winner must beat the runner-up by this factor, otherwise the scores are too close to call.
MIN_RATIO = 1.5

# Words are stored without diacritics, because customers often type without them ("Dzien dobry,
# mam problem z faktura"); the letters themselves are scored separately below. Beside grammar
# words, each list holds the greetings, closings and vocabulary of support mail in that language.
_WORDS = {
    "pl": """
        i w z ze na do nie sie jest to ze czy jak ale od po o za przez dla tak juz jeszcze
        mam mamy ma sa bylo byl byla bedzie moze mozna prosze prosimy dziekuje dziekujemy dzieki
        dzien dobry witam pozdrawiam pozdrowienia serdecznie uprzejmie z powazaniem pani pan panstwa
        problem problemu faktura fakture faktury zamowienie zamowienia platnosc platnosci konto
        konta haslo hasla blad bledu dzialac dziala nie dziala sprawdzic sprawe pomoc pomocy
        wiadomosc wiadomosci odpowiedz odpowiedzi tylko kiedy gdzie dlaczego ktory ktora ktore
        tego tej ten ta te jego jej ich mnie mi nam nas wam sobie bardzo teraz dzisiaj jutro wczoraj
        zglaszam zgloszenie prosba informacje informacja numer raport raportu licencji licencja
        logowanie zalogowac system systemu klienta klient termin kontakt kontaktu wyslane zalaczniku
        zalacznik zalaczam niestety nadal wciaz dalej jednak wystepuje zrzut ekranu dodatkowy
    """,
    "es": """
        el la los las un una unos unas y o de del al en con por para que como pero mas muy ya
        es son esta estan estoy tengo tiene tenemos hay fue ser hacer puede pueden no si
        hola buenos buenas dias tardes noches saludos gracias muchas atentamente cordialmente
        estimado estimada estimados favor ayuda problema problemas factura facturas pedido
        cuenta contrasena error funciona sistema cliente mensaje respuesta solicitud informe
        usted ustedes nosotros mi mis su sus le les me nos lo este esta esto ese cuando donde
        porque tambien ahora hoy manana ayer necesito quisiera podrian pueden numero licencia
        enviado desde adjunto adjunta archivo otra otro captura pantalla saludo lamentablemente sigue
    """,
    "en": """
        the a an and or of to in on at for with from by is are was were be been have has had
        do does did not i you we they he she it my your our their this that these those
        hello hi dear thanks thank regards best sincerely kind please help issue problem
        invoice order account password error working works system customer message reply
        request report would could should can will just still also when where why which
        there here what how today tomorrow yesterday need license attached sent lot unfortunately another screenshot
    """,
    "de": """
        der die das den dem des ein eine einen einem einer und oder mit von zu im in auf fur
        ist sind war waren wird werden hat haben habe ich sie wir er es nicht kein keine
        hallo guten tag morgen abend gruss grusse freundlichen viele vielen dank danke bitte
        sehr geehrte geehrter herr frau problem rechnung bestellung konto passwort fehler
        funktioniert system kunde nachricht antwort anfrage auch noch schon wenn wann warum
        wie was hier heute mein meine ihr ihre unser unsere diese dieser dieses
    """,
    "fr": """
        le la les un une des et ou de du au aux en dans avec pour par sur que qui ne pas
        est sont etait je vous nous il elle ils mon ma mes votre vos notre nos ce cette ces
        bonjour bonsoir salut merci cordialement bien madame monsieur aide probleme facture
        commande compte mot passe erreur fonctionne systeme client message reponse demande
        aussi encore deja quand pourquoi comment ici aujourd hui demain avoir etre fait
    """,
    "pt": """
        o a os as um uma uns umas e ou de do da dos das no na nos nas em com por para que
        como mas muito ja e sao esta estao estou tenho tem temos foi ser fazer pode nao sim
        ola bom boa dia tarde noite obrigado obrigada cumprimentos atenciosamente prezado
        prezada ajuda problema fatura pedido conta senha erro funciona sistema cliente
        mensagem resposta solicitacao voce voces nos meu minha seu sua ele ela isso este esta
        quando onde porque tambem agora hoje amanha ontem preciso gostaria numero
    """,
    "it": """
        il lo la i gli le un uno una e o di del della dei delle da dal in con per su che
        come ma piu molto gia sono era ho ha abbiamo hanno essere fare puo non si
        ciao buongiorno buonasera salve grazie saluti cordiali distinti gentile egregio aiuto
        problema fattura ordine conto password errore funziona sistema cliente messaggio
        risposta richiesta io lei noi voi mio mia suo sua questo questa quando dove perche
        anche ora oggi domani ieri ho bisogno vorrei numero allegato
    """,
}

# Letters that only some of the languages use; each occurrence counts for those languages.
_LETTERS = {
    "pl": "ąćęłńśźż",
    "es": "ñ¿¡áéíóú",
    "de": "äöüß",
    "fr": "àâçèéêëîïôùûœ",
    "pt": "ãõçáâéêíóôú",
    "it": "àèéìòù",
}

# Each distinctive letter adds this much, and letters together add at most LETTER_CAP, so that a
# name such as "Łukasz" cannot outvote a whole English sentence.
LETTER_WEIGHT = 0.5
LETTER_CAP = 3.0

LANGUAGES = tuple(_WORDS)

_WORD_RE = re.compile(r"[^\W\d_]+")


def _fold_table() -> dict[int, str]:
    """Map every accented Latin letter to its plain base letter(s), for diacritic-free matching."""
    table = {ord("ł"): "l", ord("Ł"): "L", ord("ß"): "ss", ord("œ"): "oe", ord("æ"): "ae"}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFD", char)[0]
        if code not in table and base != char and base.isascii():
            table[code] = base
    return table


def _word_weights() -> dict[str, tuple[tuple[str, float], ...]]:
    """Word → ((language, weight), …); a word shared by k languages weighs 1/k in each."""
    owners: dict[str, list[str]] = {}
    for lang, words in _WORDS.items():
        for word in set(words.split()):
            owners.setdefault(word, []).append(lang)
    return {word: tuple((lang, 1 / len(langs)) for lang in langs) for word, langs in owners.items()}


def _letter_weights() -> dict[str, tuple[tuple[str, float], ...]]:
    """Letter → ((language, weight), …), shared letters split like shared words."""
    owners: dict[str, list[str]] = {}
    for lang, letters in _LETTERS.items():
        for letter in letters:
            owners.setdefault(letter, []).append(lang)
    return {c: tuple((lang, LETTER_WEIGHT / len(langs)) for lang in langs) for c, langs in owners.items()}


_FOLD = _fold_table()
_WORD_WEIGHTS = _word_weights()
_LETTER_WEIGHTS = _letter_weights()
_LETTER_RE = lazy_compile("[" + "".join(_LETTER_WEIGHTS) + "]")


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language `text` is written in, or None when unsure."""
    sample = _without_addresses(_own_lines(text[:MAX_CHARS]).lower())
    scores = dict.fromkeys(LANGUAGES, 0.0)
    _add_word_scores(scores, Counter(_WORD_RE.findall(sample)))
    if not sample.isascii():
        _add_letter_scores(scores, sample)
    return _decide(scores)


def _own_lines(text: str) -> str:
    """The text without ">"-quoted lines, unless the quote is all there is."""
    if ">" not in text:
        # Nothing to drop; the lines joined again would differ from the text only in its line
        # breaks, which the caller splits away with every other run of whitespace.
        return text
    own = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))
    return own if _WORD_RE.search(own) else text


def _without_addresses(text: str) -> str:
    """Drop e-mail addresses, URLs and paths: their words ("com", "www") belong to no language."""
    if "@" not in text and "/" not in text and "www." not in text:
        return " ".join(text.split())  # No token to drop: no test per token.
    return " ".join(t for t in text.split() if "@" not in t and "/" not in t and not t.startswith("www."))


def _add_word_scores(scores: dict[str, float], words: Counter) -> None:
    # Folding only the distinct non-ASCII words is much cheaper than folding the whole sample.
    for word, count in words.items():
        key = word if word.isascii() else word.translate(_FOLD)
        for lang, weight in _WORD_WEIGHTS.get(key, ()):
            scores[lang] += weight * count


def _add_letter_scores(scores: dict[str, float], sample: str) -> None:
    bonus = dict.fromkeys(LANGUAGES, 0.0)
    for letter, count in Counter(_LETTER_RE.findall(sample)).items():
        for lang, weight in _LETTER_WEIGHTS[letter]:
            bonus[lang] += weight * count
    for lang, value in bonus.items():
        scores[lang] += min(value, LETTER_CAP)


def _decide(scores: dict[str, float]) -> str | None:
    """The best language when its score is high enough and clearly ahead of the next one."""
    best, second = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:2]
    if best[1] < MIN_SCORE or best[1] < second[1] * MIN_RATIO:
        return None
    return best[0]
