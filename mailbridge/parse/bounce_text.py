"""Recognise non-standard (plain-text) bounces and pull failed recipients and codes out of them.

qmail, Exim, old Sendmail, Lotus Notes, Exchange 2003 and many providers send a human-readable
notice instead of an RFC 3464 report. Every pattern here is anchored or bounded so a hostile
1 MB body cannot make it slow.
"""

from __future__ import annotations

import re

from mailbridge.parse.address_forms import X400_RE, normal_address, x400_to_rfc822
from mailbridge.parse.bounce_dsn import STATUS_RE, dsn_recipients, is_failure
from mailbridge.parse.bounce_returned import notice_part
from mailbridge.parse.lazy_re import lazy_compile
from mailbridge.parse.model import BounceRecipient

__all__ = ["looks_like_bounce", "notice_part", "text_recipients", "is_daemon_address", "DELAY_RE"]

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
    r"|não (?:foi possível )?entregue|onbestelbaar|доставлено|не доставлено"
    r"|エラー通知|配信エラー|送信エラー|未配達|退信|无法投递|投递失败|系统退信"
    r"|mensaje retrasado|entrega retrasada|opóźnienie (?:w )?dostarcz|opóźniona",
    re.IGNORECASE,
)
# The same pattern lowered and case-sensitive, for a subject lowered first: on most subjects it
# gives the same answer at a tenth of the cost (a case-blind alternation is tried branch by
# branch at every character; a case-sensitive one skips ahead to its branches' first letters).
# Below U+0180 (ASCII, Latin-1 and Latin Extended-A: the letters of our customers' languages)
# str.lower() maps every character to the one character IGNORECASE compares, except the Turkish
# dotted and dotless i and the long s, which IGNORECASE also matches with i and s.
_BOUNCE_SUBJECT_LOWER_RE = re.compile(BOUNCE_SUBJECT_RE.pattern.lower())
_CASE_SAFE_END = "\u0180"
_CASE_UNSAFE = "\u0130\u0131\u017f"
BOUNCE_BODY_RE = lazy_compile(
    r"could not be delivered|wasn't able to deliver|was not able to deliver|unable to deliver"
    r"|not be delivered|delivery (?:to the following recipients? )?(?:has )?failed"
    r"|permanent(?:ly)? (?:fatal )?error|did not reach the following|undeliverable"
    r"|following address(?:es|\(es\))? (?:had|failed)|message (?:was|could) not (?:be )?delivered"
    r"|returned to (?:the )?sender|delivery (?:has been )?delayed|has not (?:yet )?been delivered"
    r"|transcript of session follows|failed addresses|error delivering|invalid user address|unknown user|user unknown|mailbox (?:unavailable|full)"
    r"|no such (?:user|recipient)|failure reasons|recipient address rejected|host unknown"
    r"|не может быть доставлено|nie (?:mo[zż]na|może) (?:by[cć] )?dostarczy|no se (?:pudo|puede) entregar"
    r"|(?:is|are) not (?:a )?member|not allowed to post|(?:message|post(?:ing)?) (?:was |has been )?rejected"
    r"|no (?:ha )?podido (?:ser )?entregar|todavía no ha sido entregado|retrasad|opóźnion"
    r"|nie (?:został|została|zostało)(?: jeszcze)? dostarczon",
    re.IGNORECASE,
)
DELAY_RE = lazy_compile(
    r"\bdelay(?:ed)?\b|still being retried|will (?:continue|be) (?:to )?retr|will keep trying"
    r"|has not yet been delivered|not been delivered yet|temporar(?:y|ily)|\bwarning\b|deferred",
    re.IGNORECASE,
)
# A notice that says the MTA keeps trying is a delay whatever else it says ("if it still fails
# in 5 days it will be returned permanently"); one that says it gave up is a final failure.
RETRYING_RE = lazy_compile(
    r"will (?:keep|continue) (?:trying|to try|retrying|to retry)|still (?:being )?(?:retried|trying)"
    r"|will be retried|will retry|will try again|has been delayed|delivery (?:is |has been )?delayed"
    r"|not (?:yet )?been delivered yet|has not yet been delivered|no action is required"
    r"|no es necesario que haga nada|seguirá intentando|nadal próbuje|będzie ponawiane",
    re.IGNORECASE,
)
PERMANENT_RE = lazy_compile(
    r"permanent(?:ly)?|fatal error|gave up|given up|giving up|will not (?:be )?retr|no further attempts"
    r"|(?<![\d.])5\.\d{1,3}\.\d{1,3}(?![\d])|trwał[ya]|permanente(?:mente)?",
    re.IGNORECASE,
)
ADDRESS_RE = lazy_compile(r"[A-Za-z0-9][\w.+'=/-]{0,63}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
# Lines whose addresses are not failed recipients: the returned message's own header lines,
# the sender in an SMTP transcript, and "please contact …" help text.
NOT_RECIPIENT_LINE_RE = lazy_compile(
    r"^\s*(?:from|to|cc|subject|sent|date|reply-to|return-path|sender|message-id|>>>)\s*:?"
    r"|mail from|envelope-from|from=<|contact|assistance|questions|reporting-mta",
    re.IGNORECASE,
)
# In free text only failure replies count: a "250 OK" or "220 ready" line says nothing here.
FAILURE_REPLY_RE = lazy_compile(r"(?<![\w.#-])#?([45]\d\d)(?=[ \-]|:\s|$)", re.MULTILINE)
MAX_RECIPIENTS = 50
_NOTICE_LIMIT = 100_000
# "(expanded from <alias>)", "(ultimately generated from alias)": the address the sender used,
# rewritten into the failed one; naming it as a second recipient would double the failure.
EXPANDED_FROM_RE = lazy_compile(r"\((?:ultimately )?(?:expanded|generated|forwarded) (?:from|by)[^)]{0,300}\)"
                               r"|(?:ultimately )?(?:generated|expanded) (?:from|by) \S+", re.IGNORECASE)
# A line that names a failure next to an address: a 4xx/5xx reply, a status code, or a reason.
FAILURE_LINE_RE = lazy_compile(
    r"(?<![\w.#-])[45]\d\d(?=[ \-]|$)|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}"
    r"|unknown|no such|not found|does not exist|doesn't exist|invalid|disabled|mailbox|quota"
    r"|rejected|refused|unavailable|unreachable|undeliverable|failed|not (?:be )?delivered"
    r"|error|could not|unable|deliver",
    re.IGNORECASE,
)
SENDER_INTRO_RE = lazy_compile(r"(?:sent|written|submitted) by:?\s*$|\bsender:?\s*$", re.IGNORECASE)
LIST_ROLE_RE = re.compile(
    r"^(?:owner-.+|.+-(?:request|owner|bounces?|admin|ctl|help|(?:un)?subscribe|errors?|leave|join)"
    r"(?:\+.*)?|mailman|majordomo|listserv|listproc|sympa|ezmlm|lyris)$",
    re.IGNORECASE,
)


def is_daemon_address(address: str) -> bool:
    """True for mailer-daemon, postmaster and similar machine-only addresses."""
    return bool(DAEMON_LOCAL_RE.match(address.rpartition("@")[0] or address))


def looks_like_bounce(*, subject: str, sender: str, envelope: str, null_sender: bool, body: str) -> bool:
    """Two independent signals are needed, so a person's "Returned mail?" subject stays human."""
    # A list server returning a failure is a machine too: the bounce must not pass for list mail.
    # Only by its From: every post of a Mailman list has a `-bounces` envelope sender.
    machine = null_sender or is_daemon_address(sender) or is_daemon_address(envelope) or is_list_role(sender)
    by_subject = bounce_subject(subject)
    if not (machine or by_subject):
        # The body alone is never enough, so a person's mail (nearly all mail) skips the
        # body patterns, which are the costly part of this test.
        return False
    return bool(BOUNCE_BODY_RE.search(body[:20000])) or (machine and by_subject)


def bounce_subject(subject: str) -> bool:
    """Whether BOUNCE_SUBJECT_RE finds a bounce phrase in the subject."""
    if subject.isascii() or (max(subject) < _CASE_SAFE_END and not any(ch in subject for ch in _CASE_UNSAFE)):
        return _BOUNCE_SUBJECT_LOWER_RE.search(subject.lower()) is not None
    return BOUNCE_SUBJECT_RE.search(subject) is not None


def candidate_addresses(notice: str, exclude: set[str]) -> tuple[list[str], list[str]]:
    """Addresses the notice says failed, and those it merely mentions, in order, deduplicated.

    An address is named as failed when it opens its line ("  user@x", "<user@x>: host …") or
    shares the line with a failure reply or reason. Addresses only mentioned in prose (help
    desks, list and role addresses, the alias a recipient was expanded from) come second, and
    list and role addresses not at all.
    """
    strong: list[str] = []
    weak: list[str] = []
    seen = set(exclude)
    previous = ""
    for line in notice[:_NOTICE_LIMIT].splitlines():
        # "A message sent by\n\n  <sender@x>\n\ncould not be delivered": the sender, alone on a line.
        after_sender = SENDER_INTRO_RE.search(previous) is not None
        previous = line if line.strip() else previous
        if after_sender or NOT_RECIPIENT_LINE_RE.search(line):
            continue
        line = EXPANDED_FROM_RE.sub(" ", line)
        for index, address in enumerate(line_addresses(line)):
            key = address.lower()
            if key in seen or is_daemon_address(key):
                continue
            seen.add(key)
            named = FAILURE_LINE_RE.search(line) or (
                index == 0 and _opens_line(line, address) and not is_list_role(address))
            (strong if named else weak).append(address)
    weak = [a for a in weak if not is_list_role(a)]
    return strong[:MAX_RECIPIENTS], weak[:MAX_RECIPIENTS]


def line_addresses(line: str) -> list[str]:
    """RFC 822 addresses of one line, X.400 forms converted and Exchange prefixes dropped."""
    found = []
    if "=" in line and "/" in line:
        found += [a for a in (x400_to_rfc822(m.group(0)) for m in X400_RE.finditer(line)) if a]
    for match in ADDRESS_RE.finditer(line):
        address = normal_address(match.group(0)).rstrip(".")
        if "@" in address and "/" not in address:
            found.append(address)
    return found


def _opens_line(line: str, address: str) -> bool:
    """True when nothing but decoration (or "RCPT TO:") stands before the address on its line."""
    if line.lstrip().startswith("/"):
        return True  # An X.400 form ("/RFC-822=user(a)x/…", "/S=…/O=…/") opening the line.
    head = line[: line.lower().find(address.lower().split("@")[0])]
    head = re.sub(r"(?i)rcpt to:|smtp[:=]|recipient:|to:|x400;|rfc822;", " ", head)
    return not head.strip(" \t<>\"'*-:;([/=")


def is_list_role(address: str) -> bool:
    """List managers' own addresses (`-request`, `-owner`, `-bounces`, `owner-`, Mailman's …)."""
    return bool(LIST_ROLE_RE.match(address.rpartition("@")[0]))


def status_in(text: str) -> str | None:
    """The first DSN status code in the text, else the first SMTP reply code."""
    if match := STATUS_RE.search(text):
        return match.group(0)
    match = FAILURE_REPLY_RE.search(text)
    return match.group(1) if match else None


def text_recipients(notice: str, exclude: set[str], *, delayed: bool,
                    returned: list[str] | None = None) -> list[BounceRecipient]:
    """Failed recipients of a plain-text notice, each with the code found after its mention.

    The addresses the notice names as failed; else `returned` (the returned message's own To);
    else the addresses the notice only mentions.
    """
    # Some MTAs write RFC 3464 fields straight into the text; those are the most exact.
    structured = [r for r in dsn_recipients(notice) if is_failure(r)]
    if structured:
        return structured
    strong, weak = candidate_addresses(notice, exclude)
    return recipients_in(notice, strong or returned or weak, delayed=delayed)


def recipients_in(notice: str, addresses: list[str], *, delayed: bool) -> list[BounceRecipient]:
    """BounceRecipients for `addresses`, each with the first code after its mention in `notice`."""
    fallback = status_in(notice)
    lowered = notice.lower()
    starts = [lowered.find(a.lower()) for a in addresses]
    recipients = []
    for index, address in enumerate(addresses):
        status = fallback
        if starts[index] >= 0:
            following = [s for s in starts[index + 1:] if s > starts[index]]
            end = max(min(following, default=len(notice)), starts[index] + 200)
            status = status_in(notice[starts[index]:end][:3000]) or fallback
        temporary = delayed or (status or "").startswith("4")
        action = "delayed" if delayed and temporary else "failed"
        recipients.append(BounceRecipient(address=address, status=status, action=action))
    return recipients
