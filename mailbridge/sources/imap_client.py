"""One IMAP connection for one account: connect with its TLS mode, log in, open the folder, fetch, mark.

imapclient is blocking, so everything here runs in the account's own thread. Failures we can
name become `ImapProblem` with a one-line message for the log and `mailbridge imap check`;
`describe()` turns any other connection error into such a line too.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailbridge.config.imap import ImapAccount
from mailbridge.oauth import OAuthError, UserTokens
from mailbridge.sources.imap_problem import ImapProblem

SEEN = b"\\Seen"
DELETED = b"\\Deleted"
ANY_KEYWORD = b"\\*"


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """What SELECT told us about the folder."""

    uidvalidity: int
    uidnext: int
    exists: int


@dataclass(frozen=True, slots=True)
class Fetched:
    """One message as the server holds it."""

    uid: int
    raw: bytes
    internal_date: datetime | None


def connect(account: ImapAccount, tokens: UserTokens | None = None) -> IMAPClient:
    """A logged-in client; raises ImapProblem (login, tls, connect) or the socket's own error.

    `tokens`: the user's OAuth tokens, for an account with auth = "oauth2-user".
    """
    where = f"{account.host}:{account.server_port}"
    context = ssl.create_default_context(cafile=account.ca_file or None)
    try:
        client = IMAPClient(account.host, account.server_port, ssl=account.tls == "implicit",
                            ssl_context=context, timeout=account.timeout)
    except ssl.SSLError as exc:
        raise ImapProblem("tls", f"IMAP {account.name}: TLS with {where} failed: {_reason(exc)}") from None
    except (OSError, IMAPClientError) as exc:
        raise ImapProblem("connect", f"IMAP {account.name}: cannot connect to {where}: {_reason(exc)}") from None
    # Dates as the server wrote them, with their offsets, rather than naive local times.
    client.normalise_times = False
    try:
        _secure(client, account, context)
        _login(client, account, tokens)
    except BaseException:
        _close(client)
        raise
    return client


def _login(client: IMAPClient, account: ImapAccount, tokens: UserTokens | None) -> None:
    if account.auth == "oauth2-user":
        _user_login(client, account, tokens)
        return
    if account.auth == "password":
        try:
            client.login(account.user, account.password)
        except LoginError as exc:
            raise ImapProblem("login", f"IMAP login failed for {account.name}: check user/password "
                                       f"({_reason(exc)})") from None
        return
    # Imported here: only OAuth 2.0 accounts need an HTTP client.
    from mailbridge.sources import imap_oauth

    try:
        client.oauth2_login(account.user, imap_oauth.access_token(account))
    except LoginError as exc:
        imap_oauth.forget(account)
        raise ImapProblem("login", f"IMAP login failed for {account.name}: the server refused the "
                                   f"OAuth 2.0 token for {account.user} (check the app's IMAP permission "
                                   f"and its access to this mailbox) ({_reason(exc)})") from None


def _user_login(client: IMAPClient, account: ImapAccount, tokens: UserTokens | None) -> None:
    """XOAUTH2 with a token from the user's consent (`mailbridge oauth login`)."""
    if tokens is None:
        raise ImapProblem("login", f"IMAP {account.name}: no OAuth tokens for [[oauth]] {account.oauth!r}")
    try:
        token = tokens.access_token()
    except OAuthError as exc:
        raise ImapProblem("login", f"IMAP login failed for {account.name}: {exc}") from None
    try:
        client.oauth2_login(account.user, token)
    except LoginError as exc:
        tokens.forget_access_token()
        raise ImapProblem("login", f"IMAP login failed for {account.name}: the server refused the OAuth 2.0 "
                                   f"token of {account.user} (was IMAP access granted in the consent?) "
                                   f"({_reason(exc)})") from None


def _secure(client: IMAPClient, account: ImapAccount, context: ssl.SSLContext) -> None:
    if account.tls != "starttls":
        return
    if not client.has_capability("STARTTLS"):
        raise ImapProblem("tls", f"IMAP {account.name}: {account.host} does not offer STARTTLS "
                                 '(use tls = "implicit" on port 993)')
    try:
        client.starttls(context)
    except ssl.SSLError as exc:
        raise ImapProblem("tls", f"IMAP {account.name}: STARTTLS with {account.host} failed: "
                                 f"{_reason(exc)}") from None


def open_folder(client: IMAPClient, account: ImapAccount) -> FolderStatus:
    """SELECT the folder read-write and check that marking can work there; creates processed_folder."""
    try:
        selected = client.select_folder(account.folder)
    except IMAPClientError as exc:
        raise ImapProblem("folder", f"IMAP {account.name}: cannot open folder {account.folder!r}: "
                                    f"{_reason(exc)}") from None
    if not selected.get(b"READ-WRITE", True) or b"READ-ONLY" in selected:
        raise ImapProblem("folder", f"IMAP {account.name}: folder {account.folder!r} is read-only, "
                                    "so mail could not be marked once stored")
    if account.after_processing == "flag":
        _check_keyword(account, selected.get(b"PERMANENTFLAGS", ()))
    else:
        ensure_folder(client, account)
    return FolderStatus(uidvalidity=int(selected[b"UIDVALIDITY"]),
                        uidnext=int(selected.get(b"UIDNEXT") or _uidnext(client)),
                        exists=int(selected.get(b"EXISTS", 0)))


def _check_keyword(account: ImapAccount, permanent: Sequence[bytes]) -> None:
    if ANY_KEYWORD in permanent or account.keyword.encode() in permanent:
        return
    raise ImapProblem("folder", f"IMAP {account.name}: the server does not keep the keyword "
                                f"{account.keyword!r} in {account.folder!r}: use "
                                'after_processing = "move"')


def ensure_folder(client: IMAPClient, account: ImapAccount) -> None:
    """Create the processed folder if it is missing (another client may create it meanwhile)."""
    if client.folder_exists(account.processed_folder):
        return
    try:
        client.create_folder(account.processed_folder)
    except IMAPClientError as exc:
        if not client.folder_exists(account.processed_folder):
            raise ImapProblem("folder", f"IMAP {account.name}: cannot create folder "
                                        f"{account.processed_folder!r}: {_reason(exc)}") from None


def _uidnext(client: IMAPClient) -> int:
    # A server that leaves UIDNEXT out of SELECT: one more than the highest UID present.
    uids = client.search(["ALL"])
    return max(uids, default=0) + 1


def sizes(client: IMAPClient, uids: Sequence[int]) -> dict[int, int]:
    """RFC822.SIZE of each message (missing ones were expunged by someone else meanwhile)."""
    if not uids:
        return {}
    found = client.fetch(list(uids), [b"RFC822.SIZE"])
    return {uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in found.items()}


def fetch(client: IMAPClient, uids: Sequence[int]) -> list[Fetched]:
    """The raw bytes and INTERNALDATE of each message, in UID order, without setting \\Seen."""
    found = client.fetch(list(uids), [b"BODY.PEEK[]", b"INTERNALDATE"])
    messages = []
    for uid in sorted(found):
        raw = found[uid].get(b"BODY[]")
        if raw is not None:
            messages.append(Fetched(uid, bytes(raw), _utc(found[uid].get(b"INTERNALDATE"))))
    return messages


def mark(client: IMAPClient, account: ImapAccount, uids: Sequence[int]) -> None:
    """Mark stored messages: flag \\Seen and the keyword, or move them to the processed folder."""
    uids = list(uids)
    if not uids:
        return
    if account.after_processing == "flag":
        client.add_flags(uids, [SEEN, account.keyword.encode()], silent=True)
    elif client.has_capability("MOVE"):
        client.move(uids, account.processed_folder)
    else:
        client.copy(uids, account.processed_folder)
        client.add_flags(uids, [DELETED], silent=True)
        # UID EXPUNGE removes only these messages; a plain EXPUNGE would also remove whatever
        # a person flagged \Deleted meanwhile, which on a shared mailbox is theirs to decide.
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()


def _utc(value: object) -> datetime | None:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return None


def logout(client: IMAPClient) -> None:
    """Say goodbye if the connection still works; close it in any case."""
    try:
        client.logout()
    except (OSError, IMAPClientError):
        _close(client)


def _close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except (OSError, IMAPClientError):
        pass


def describe(exc: BaseException, account: ImapAccount) -> str:
    """One log line for a connection-level failure of `account`."""
    if isinstance(exc, ImapProblem):
        return str(exc)
    where = f"{account.host}:{account.server_port}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"IMAP {account.name}: {where} did not answer within {account.timeout} s"
    if isinstance(exc, ssl.SSLError):
        return f"IMAP {account.name}: TLS error with {where}: {_reason(exc)}"
    if isinstance(exc, OSError | IMAPClientError):
        return f"IMAP {account.name}: connection to {where} lost: {_reason(exc)}"
    return f"IMAP {account.name}: {type(exc).__name__}: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    """The error's own text on one line (imapclient hands server text over as bytes)."""
    arg = exc.args[0] if len(exc.args) == 1 else (exc.strerror if isinstance(exc, OSError) else None)
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg if arg is not None else exc)
    text = " ".join(text.split()) or type(exc).__name__
    return text[:300]
