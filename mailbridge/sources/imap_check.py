"""`mailbridge imap check`: log in to each configured mailbox and say what serve would find there.

Nothing is changed on the server: the folder is opened to read its flags and counts, the
processed folder is looked for but not created, and nothing is fetched or marked. Each
problem is one line naming the account, so a sysadmin can fix them before `serve`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailbridge.config.imap import ImapAccount
from mailbridge.config import Config
from mailbridge.oauth import UserTokens, user_tokens
from mailbridge.sources import imap_client
from mailbridge.sources.imap_problem import ImapProblem
from mailbridge.sources.imap_plan import Cursor, search_criteria


@dataclass
class AccountReport:
    """What was found for one account: lines for a person, and problems (none when usable)."""

    account: ImapAccount
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_accounts(accounts: tuple[ImapAccount, ...], today: date,
                   tokens_for: Callable[[ImapAccount], UserTokens | None] = lambda account: None) -> list[AccountReport]:
    """One report per account, in config order; `tokens_for` gives an oauth2-user account its tokens."""
    return [check_account(account, today, tokens_for(account)) for account in accounts]


def config_tokens(config: Config) -> Callable[[ImapAccount], UserTokens | None]:
    """The `tokens_for` of a config: its [[oauth]] tokens for the accounts that log in as a user."""
    return lambda account: user_tokens(config, account.oauth) if account.auth == "oauth2-user" else None


def check_account(account: ImapAccount, today: date, tokens: UserTokens | None = None) -> AccountReport:
    report = AccountReport(account)
    login = {"oauth2": ", OAuth 2.0", "oauth2-user": f", OAuth 2.0 as {account.user}"}.get(account.auth, "")
    report.lines.append(f"{account.name}: {account.user} at {account.host}:{account.server_port} "
                        f"({_tls_label(account.tls)}{login})")
    try:
        client = imap_client.connect(account, tokens)
    except (ImapProblem, OSError, IMAPClientError) as exc:
        report.problems.append(imap_client.describe(exc, account))
        return report
    try:
        _inspect(client, account, report, today)
    except (ImapProblem, OSError, IMAPClientError) as exc:
        report.problems.append(imap_client.describe(exc, account))
    finally:
        imap_client.logout(client)
    return report


def _inspect(client: IMAPClient, account: ImapAccount, report: AccountReport, today: date) -> None:
    report.lines.append("  server: " + ", ".join(
        f"{name} {'yes' if client.has_capability(name) else 'no'}" for name in ("IDLE", "MOVE", "UIDPLUS")))
    if account.idle and not client.has_capability("IDLE"):
        report.lines.append(f"  no IDLE: new mail is looked for every {account.poll_interval} s")
    if not client.folder_exists(account.folder):
        report.problems.append(f"IMAP {account.name}: no folder {account.folder!r} "
                               f"(folders: {', '.join(_folders(client))})")
        return
    selected = client.select_folder(account.folder)
    _folder_lines(client, account, report, selected)
    _marking_lines(client, account, report, selected)
    _backlog_line(client, account, report, selected, today)


def _folder_lines(client: IMAPClient, account: ImapAccount, report: AccountReport, selected: dict) -> None:
    unseen = len(client.search(["UNSEEN"]))
    report.lines.append(f"  folder {account.folder}: {selected.get(b'EXISTS', 0)} messages, {unseen} unseen, "
                        f"UIDVALIDITY {selected.get(b'UIDVALIDITY')}")
    if b"READ-ONLY" in selected or not selected.get(b"READ-WRITE", True):
        report.problems.append(f"IMAP {account.name}: folder {account.folder!r} is read-only, "
                               "so mail could not be marked once stored")


def _marking_lines(client: IMAPClient, account: ImapAccount, report: AccountReport, selected: dict) -> None:
    if account.after_processing == "flag":
        permanent = selected.get(b"PERMANENTFLAGS", ())
        if imap_client.ANY_KEYWORD in permanent or account.keyword.encode() in permanent:
            report.lines.append(f"  after processing: flag \\Seen and {account.keyword}")
        else:
            report.problems.append(f"IMAP {account.name}: the server does not keep the keyword "
                                   f"{account.keyword!r} in {account.folder!r}: use after_processing = \"move\"")
        return
    exists = client.folder_exists(account.processed_folder)
    how = "MOVE" if client.has_capability("MOVE") else "COPY, \\Deleted and EXPUNGE"
    where = "exists" if exists else "will be created at the first start"
    report.lines.append(f"  after processing: move to {account.processed_folder} ({where}) with {how}")
    if not client.has_capability("MOVE") and not client.has_capability("UIDPLUS"):
        report.lines.append("  note: without MOVE or UIDPLUS, EXPUNGE also removes messages someone "
                            "else flagged \\Deleted in this folder")


def _backlog_line(client: IMAPClient, account: ImapAccount, report: AccountReport, selected: dict,
                  today: date) -> None:
    # What the rule would take if mailbridge looked at this folder for the first time now.
    uidnext = int(selected.get(b"UIDNEXT") or 1)
    keyword = account.keyword if account.after_processing == "flag" else None
    criteria = search_criteria(Cursor(0, uidnext - 1, today), backlog=account.backlog, flag_keyword=keyword)
    taken = len(client.search(criteria)) if criteria else 0
    report.lines.append(f"  backlog {account.backlog!r}: a first start takes {taken} of "
                        f"{selected.get(b'EXISTS', 0)} messages")


def _folders(client: IMAPClient) -> list[str]:
    return sorted(name for _, _, name in client.list_folders())[:20]


def _tls_label(tls: str) -> str:
    return {"implicit": "implicit TLS", "starttls": "STARTTLS", "none": "no TLS"}[tls]
