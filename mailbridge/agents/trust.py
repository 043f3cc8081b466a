"""Whether a mail from an agent's address may act as the agent: the thread proof, and DKIM/DMARC where configured.

A `From:` header proves nothing. An agent's answer needs the signed proof of its thread (the
ticket's reply token in a recipient address, or one of our signed Message-IDs in
In-Reply-To/References: threading's rules `reply-token` and `our-message-id`). Where
`[listener] trusted_authserv_id` names the site's MTA, it also needs that MTA's verdict: the
first `Authentication-Results` header carrying that authserv-id (the topmost, i.e. the one our
MTA added last) must say `dkim=pass` for the agent's domain (or a parent domain of it), or
`dmarc=pass` with `header.from` the agent's domain. `#fwd` and `#phone` open a ticket, so no
thread can prove them: only the MTA's verdict can, when it is configured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbridge.parse.model import ParsedMessage

# Only a signed proof of the thread lets a mail from an agent's address act as the agent.
PROOF_RULES = frozenset({"reply-token", "our-message-id"})
_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*([a-z0-9_-]+)\s*=\s*([a-z]+)(.*)$", re.IGNORECASE | re.DOTALL)
_PROPERTY = re.compile(r"([a-z0-9_-]+\.[a-z0-9_-]+)\s*=\s*\"?([^\s\";]+)\"?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """`trusted`: the mail may act as the agent; otherwise `code` says why not (`reason` in words, for logs).

    Codes: `no-proof` (no reply token, none of our Message-IDs), `no-authentication` (no
    Authentication-Results of our MTA), `not-authenticated` (no dkim/dmarc pass for the domain).
    """

    trusted: bool
    reason: str = ""
    code: str = ""
    authserv_id: str = ""
    domain: str = ""


def answer_verdict(message: ParsedMessage, thread_rule: str, *, authserv_id: str) -> Verdict:
    """May this mail from an agent's address act on the ticket threading placed it on?"""
    if thread_rule not in PROOF_RULES:
        return Verdict(False, "it does not prove its ticket: it was not sent to the ticket's reply address "
                              "(Reply-To of our notice) and names none of our Message-IDs", "no-proof")
    return authenticated(message, authserv_id)


def authenticated(message: ParsedMessage, authserv_id: str) -> Verdict:
    """The MTA's verdict on the sender's domain, when `authserv_id` is configured (else trusted)."""
    if not authserv_id:
        return Verdict(True)
    sender = message.from_.address.strip().lower() if message.from_ else ""
    domain = sender.rpartition("@")[2]
    results = _our_results(message, authserv_id)
    if results is None:
        return Verdict(False, f"no Authentication-Results from {authserv_id}", "no-authentication", authserv_id, domain)
    for method, result, properties in results:
        if result != "pass":
            continue
        if method == "dkim" and _aligned(properties.get("header.d", "") or _i_domain(properties), domain):
            return Verdict(True)
        if method == "dmarc" and properties.get("header.from", "") == domain:
            return Verdict(True)
    return Verdict(False, f"{authserv_id} found neither dkim=pass nor dmarc=pass for {domain or 'the sender'}",
                   "not-authenticated", authserv_id, domain)


def _our_results(message: ParsedMessage, authserv_id: str) -> list[tuple[str, str, dict[str, str]]] | None:
    """The results in the first Authentication-Results header of our MTA, or None when there is none."""
    wanted = authserv_id.strip().lower()
    for value in message.header_all("Authentication-Results"):
        text = _COMMENT.sub(" ", value)
        server, _, rest = text.partition(";")
        words = server.split()
        if not words or words[0].lower() != wanted:
            continue
        found = []
        for clause in rest.split(";"):
            match = _RESULT.match(clause)
            if match:
                properties = {key.lower(): val.lower() for key, val in _PROPERTY.findall(match.group(3))}
                found.append((match.group(1).lower(), match.group(2).lower(), properties))
        return found
    return None


def _i_domain(properties: dict[str, str]) -> str:
    return properties.get("header.i", "").rpartition("@")[2]


def _aligned(signing_domain: str, domain: str) -> bool:
    # Relaxed alignment, as DMARC reads it: a signature of example.com covers mail.example.com.
    return bool(signing_domain) and (domain == signing_domain or domain.endswith("." + signing_domain))
