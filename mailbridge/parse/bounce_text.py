"""Recognise non-standard (plain-text) bounces and pull failed recipients and codes out of them.

qmail, Exim, old Sendmail, Lotus Notes, Exchange 2003 and many providers send a human-readable
notice instead of an RFC 3464 report. Every pattern here is anchored or bounded so a hostile
1 MB body cannot make it slow.
"""

from __future__ import annotations

import re

from mailbridge.parse.bounce_dsn import STATUS_RE, dsn_recipients, is_failure
from mailbridge.parse.model import BounceRecipient

# Senders that only machines use: the null sender and the RFC 5321/2142 role names.
DAEMON_LOCAL_RE = re.compile(
    r"^(?:mailer[-_.]?daemon|postmaster|post_master|mail[-_.]?delivery[-_.]?(?:system|subsystem)?"
    r"|mdaemon|bounces?|mail[-_]?administrator)$",
    re.IGNORECASE,
)
BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|returned mail|returning message|mail delivery (?:failed|failure|problem)"
    r"|delivery (?:status notification|failure|failed|has failed|problem|notification)"
    r"|failure (?:notice|delivery)|failed delivery|delivery status|could not be delivered"
    r"|non[- ]?delivery|permanent delivery failure|mail system error|returned to sender"
    r"|delayed mail|warning: message .{0,80} delayed|message delivery has failed|mail failure"
    r"|error sending your mail|mail failed|returning to sender|nondeliverable|delivery (?:report|incomplete)"
    r"|niedostarcz|nie (?:można|mo[zż]na) dostarczy|nie dostarczono|zwrot wiadomo"
    r"|no se (?:puede|pudo|ha podido) entregar|no entregad|error de entrega|devuelto"
    r"|unzustellbar|nicht zustellbar|zustellung fehlgeschlagen|unzustellbare"
    r"|non remis|échec de (?:la )?remise|non distribuable|non recapitat|mancata consegna"
    r"|não (?:foi possível )?entregue|onbestelbaar|доставлено|не доставлено",
    re.IGNORECASE,
)
BOUNCE_BODY_RE = re.compile(
    r"could not be delivered|wasn't able to deliver|was not able to deliver|unable to deliver"
    r"|not be delivered|delivery (?:to the following recipients? )?(?:has )?failed"
    r"|permanent(?:ly)? (?:fatal )?error|did not reach the following|undeliverable"
    r"|following address(?:es|\(es\))? (?:had|failed)|message (?:was|could) not (?:be )?delivered"
    r"|returned to (?:the )?sender|delivery (?:has been )?delayed|has not (?:yet )?been delivered"
    r"|transcript of session follows|failed addresses|error delivering|invalid user address|unknown user|user unknown|mailbox (?:unavailable|full)"
    r"|no such (?:user|recipient)|failure reasons|recipient address rejected|host unknown"
    r"|не может быть доставлено|nie (?:mo[zż]na|może) (?:by[cć] )?dostarczy|no se (?:pudo|puede) entregar",
    re.IGNORECASE,
)
DELAY_RE = re.compile(
    r"\bdelay(?:ed)?\b|still being retried|will (?:continue|be) (?:to )?retr|will keep trying"
    r"|has not yet been delivered|not been delivered yet|temporar(?:y|ily)|\bwarning\b|deferred",
    re.IGNORECASE,
)
# Where the notice ends and the returned copy of the message begins.
RETURNED_RE = re.compile(
    r"^[\s\-=*_>|]*(?:this is a copy of the message|below this line is a copy|original message(?! was)"
    r"|unsent message follows|returned message|message headers follow|included message"
    r"|the original message headers|here is a copy|original mail|headers of the original"
    r"|copy of the original|message text follows)",
    re.IGNORECASE | re.MULTILINE,
)
ADDRESS_RE = re.compile(r"[A-Za-z0-9][\w.+'=/-]{0,63}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
# Lines whose addresses are not failed recipients: the returned message's own header lines,
# the sender in an SMTP transcript, and "please contact …" help text.
NOT_RECIPIENT_LINE_RE = re.compile(
    r"^\s*(?:from|to|cc|subject|sent|date|reply-to|return-path|sender|message-id|>>>)\s*:?"
    r"|mail from|envelope-from|from=<|contact|assistance|questions|reporting-mta",
    re.IGNORECASE,
)
# In free text only failure replies count: a "250 OK" or "220 ready" line says nothing here.
FAILURE_REPLY_RE = re.compile(r"(?<![\w.#-])#?([45]\d\d)(?=[ \-]|$)", re.MULTILINE)
MAX_RECIPIENTS = 50


def is_daemon_address(address: str) -> bool:
    """True for mailer-daemon, postmaster and similar machine-only addresses."""
    return bool(DAEMON_LOCAL_RE.match(address.rpartition("@")[0] or address))


def looks_like_bounce(*, subject: str, sender: str, envelope: str, null_sender: bool, body: str) -> bool:
    """Two independent signals are needed, so a person's "Returned mail?" subject stays human."""
    machine = null_sender or is_daemon_address(sender) or is_daemon_address(envelope)
    by_subject = bool(BOUNCE_SUBJECT_RE.search(subject))
    if not (machine or by_subject):
        # The body alone is never enough, so a person's mail (nearly all mail) skips the
        # body patterns, which are the costly part of this test.
        return False
    return bool(BOUNCE_BODY_RE.search(body[:20000])) or (machine and by_subject)


def notice_part(body: str) -> str:
    """The bounce notice without the returned copy of the original message."""
    match = RETURNED_RE.search(body)
    return body[: match.start()] if match else body


def candidate_addresses(notice: str, exclude: set[str]) -> list[str]:
    """Addresses that name failed recipients, in order of first mention, deduplicated."""
    found: list[str] = []
    seen = set(exclude)
    for line in notice.splitlines():
        if NOT_RECIPIENT_LINE_RE.search(line):
            continue
        for address in ADDRESS_RE.findall(line):
            key = address.lower().rstrip(".")
            if key in seen or is_daemon_address(key):
                continue
            seen.add(key)
            found.append(address.rstrip("."))
    return found[:MAX_RECIPIENTS]


def status_in(text: str) -> str | None:
    """The first DSN status code in the text, else the first SMTP reply code."""
    if match := STATUS_RE.search(text):
        return match.group(0)
    match = FAILURE_REPLY_RE.search(text)
    return match.group(1) if match else None


def text_recipients(notice: str, exclude: set[str], *, delayed: bool) -> list[BounceRecipient]:
    """Failed recipients of a plain-text notice, each with the code found after its mention."""
    # Some MTAs write RFC 3464 fields straight into the text; those are the most exact.
    structured = [r for r in dsn_recipients(notice) if is_failure(r)]
    if structured:
        return structured
    addresses = candidate_addresses(notice, exclude)
    fallback = status_in(notice)
    lowered = notice.lower()
    starts = [lowered.find(a.lower()) for a in addresses] + [len(notice)]
    recipients = []
    for index, address in enumerate(addresses):
        window = notice[starts[index] : max(starts[index + 1], starts[index] + 200)][:3000]
        status = status_in(window) or fallback
        temporary = delayed or (status or "").startswith("4")
        action = "delayed" if delayed and temporary else "failed"
        recipients.append(BounceRecipient(address=address, status=status, action=action))
    return recipients
