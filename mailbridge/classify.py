"""A new ticket's priority, type and customer plan, from ordered rules: the first match wins.

Pure: it reads the parsed message and the rules it is given. Keywords match whole words,
ignoring case and accents ("URGENTE" and "urgente", "Awaria  KRYTYCZNA" and "awaria
krytyczna", "peticion" and "petición"), so that "pilne" never matches inside "pilnego".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mailbridge.config.classify import CustomerConfig, RuleConfig
from mailbridge.parse.model import ParsedMessage

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Classification:
    """What the rules decided, and which rule decided each value ("default" when none did)."""

    priority: str
    type: str
    plan: str | None
    priority_rule: str
    type_rule: str


@dataclass(frozen=True, slots=True)
class _Facts:
    """The message as the rules look at it, folded once."""

    recipients: frozenset[str]
    subject: str
    body: str
    language: str | None
    headers: tuple[tuple[str, str], ...]
    plan: str | None
    queue: str


def classify_ticket(message: ParsedMessage, *, queue: str, default_priority: str, default_type: str,
                    rules: Sequence[RuleConfig], customers: Sequence[CustomerConfig],
                    envelope_rcpts: Iterable[str] = ()) -> Classification:
    """The first matching rule that sets each of priority and type; the queue's defaults otherwise."""
    sender = message.from_.address if message.from_ else ""
    facts = _facts(message, queue, plan_for(sender, customers), envelope_rcpts)
    priority = next((r for r in rules if r.priority and matches(r, facts)), None)
    type_ = next((r for r in rules if r.type and matches(r, facts)), None)
    return Classification(
        priority=priority.priority if priority else default_priority,
        type=type_.type if type_ else default_type,
        plan=facts.plan,
        priority_rule=_label(priority, rules),
        type_rule=_label(type_, rules),
    )


def plan_for(sender: str, customers: Sequence[CustomerConfig]) -> str | None:
    """The plan of the first customer whose addresses or @domains include `sender`."""
    address = sender.strip().lower()
    domain = "@" + address.rsplit("@", 1)[-1] if "@" in address else None
    for customer in customers:
        if address in customer.match or (domain and domain in customer.match):
            return customer.plan
    return None


def matches(rule: RuleConfig, facts: _Facts) -> bool:
    """Whether every condition the rule writes holds for the message."""
    return (
        (not rule.queues or facts.queue in rule.queues)
        and (not rule.to or bool(facts.recipients & set(rule.to)))
        and (not rule.languages or facts.language in rule.languages)
        and (not rule.plans or (facts.plan or "") in rule.plans)
        and all(_header_has(facts.headers, name, text) for name, text in rule.headers.items())
        and (not rule.keywords or _has_keyword(rule, _where(rule, facts)))
    )


def _has_keyword(rule: RuleConfig, text: str) -> bool:
    # The searched text is made once per rule: `_where` joins subject and body into a new string,
    # which was done again for each of a rule's keywords.
    return any(_has_words(text, _folded_keyword(keyword)) for keyword in rule.keywords)


def fold(text: str) -> str:
    """Lowercase words without accents, one space apart, padded: ' awaria krytyczna '."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # ASCII has no accents to drop: the character-by-character pass is for the rest only.
    plain = decomposed if decomposed.isascii() else "".join(
        char for char in decomposed if not unicodedata.combining(char))
    # The Polish ł has no decomposition: fold it by hand so that "łatwo" meets "latwo".
    plain = plain.replace("ł", "l")
    return " " + " ".join(_WORD.findall(plain)) + " "


@lru_cache(maxsize=4096)
def _folded_keyword(keyword: str) -> str:
    # The rules' keywords are the same few for every message: folding them once each, not
    # once per message and rule, was most of the time the rules took.
    return fold(keyword)


def _facts(message: ParsedMessage, queue: str, plan: str | None, envelope_rcpts: Iterable[str]) -> _Facts:
    recipients = {a.address.strip().lower() for a in (*message.to, *message.cc)}
    recipients |= {r.strip().lower() for r in envelope_rcpts}
    # `+tag` sub-addresses reach the base address, for rules as for routing.
    recipients |= {re.sub(r"\+[^@]*@", "@", r) for r in recipients}
    return _Facts(
        recipients=frozenset(recipients),
        subject=fold(message.subject),
        body=fold(message.reply_text or message.text),
        language=message.language,
        headers=message.headers,
        plan=plan,
        queue=queue,
    )


def _where(rule: RuleConfig, facts: _Facts) -> str:
    if rule.where == "subject":
        return facts.subject
    if rule.where == "body":
        return facts.body
    return facts.subject + facts.body


def _has_words(text: str, phrase: str) -> bool:
    return phrase.strip() != "" and phrase in text


def _header_has(headers: tuple[tuple[str, str], ...], name: str, text: str) -> bool:
    wanted, needle = name.lower(), text.casefold()
    return any(key.lower() == wanted and needle in value.casefold() for key, value in headers)


def _label(rule: RuleConfig | None, rules: Sequence[RuleConfig]) -> str:
    if rule is None:
        return "default"
    return rule.name or f"rule {list(rules).index(rule) + 1}"
