"""Localised out-of-office subjects, matched only at the start of a subject after reply prefixes."""

from __future__ import annotations

import re

# Reply/forward prefixes in the languages our customers write, plus bracketed tags such as a
# ticket code or "[EXTERNAL]", which gateways put in front of an auto-reply's subject.
PREFIX_RE = re.compile(
    r"^(?:\s*(?:(?:re|fw|fwd|aw|wg|odp|pd|rv|res|enc|tr|sv|vs|antw|r)\s*(?:\[\d{1,3}\]|\(\d{1,3}\))?"
    r"\s*[:：]|\[[^\[\]]{0,60}\]|\([^()]{0,20}\)))*\s*",
    re.IGNORECASE,
)

PHRASES = (
    # English
    r"out of (?:the )?office", r"automatic (?:reply|response|answer)", r"auto[- ]?(?:reply|response|respond)",
    r"away from (?:the |my )?office", r"on vacation", r"vacation (?:reply|notice|response|message)",
    r"(?:i am|i'm|currently) (?:out of|away from) (?:the |my )?office", r"ooo", r"away",
    # Polish
    r"automatyczna odpowied[zź]", r"odpowied[zź] automatyczna", r"poza biurem", r"nieobecno[sś][cć]",
    r"jestem (?:poza biurem|nieobecn[ya])", r"autoodpowied[zź]",
    # Spanish
    r"respuesta autom[aá]tica", r"fuera de (?:la )?oficina", r"ausente", r"fuera de la empresa",
    r"estoy (?:fuera|ausente)", r"de vacaciones", r"ausencia",
    # German
    r"abwesenheitsnotiz", r"automatische antwort", r"abwesend", r"abwesenheit", r"nicht im b[uü]ro",
    # French
    r"r[ée]ponse automatique", r"absence", r"absent(?:e)? du bureau", r"message d'absence",
    # Portuguese
    r"resposta autom[aá]tica", r"aus[eê]ncia", r"fora do escrit[oó]rio", r"ausente do escrit[oó]rio",
    # Italian
    r"risposta automatica", r"fuori (?:sede|ufficio)", r"assente", r"assenza",
    # Dutch, Scandinavian, Czech, Russian, Japanese
    r"automatisch antwoord", r"afwezig(?:heid)?", r"niet aanwezig", r"automatiskt svar", r"automatisk svar",
    r"fr[aå]nvaro", r"automatick[aá] odpov[eě][dď]", r"automaattinen vastaus", r"автоматический ответ",
    r"автоответ", r"自動応答", r"自動返信", r"不在",
)

# What may follow the phrase: the end, punctuation, or words that keep it an announcement
# ("until", "hasta", "bis", "do" …). Anything else ("Out of office hours question") is a person.
TAIL = (
    r"(?=\s*(?:$|[:：\-–—(\[|,.;!/]|re\b|fw|auto|reply|notice|notification|message|until|till"
    r"|from|hasta|desde|bis|vom|ab|do|od|jusqu|du|at[eé]|fino|dal|tot|van|t\.?o\.?m)"
    r"|\s+\d)"
)
OOO_RE = re.compile(rf"(?:{'|'.join(PHRASES)}){TAIL}", re.IGNORECASE)


def out_of_office_phrase(subject: str) -> str | None:
    """The out-of-office phrase that opens the subject (after Re:/Odp:/[tags]), or None."""
    rest = PREFIX_RE.sub("", subject[:500], count=1)
    match = OOO_RE.match(rest)
    return match.group(0).strip() if match else None
