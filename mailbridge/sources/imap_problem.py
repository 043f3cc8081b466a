"""`ImapProblem`: an IMAP failure we can name, with a one-line message for the log and `imap check`.

Its own module so that the connection (`imap_client`) and the token fetcher (`imap_oauth`)
can both raise it without importing each other.
"""

from __future__ import annotations

from mailbridge.errors import MailbridgeError


class ImapProblem(MailbridgeError):
    """A named IMAP failure; `kind` is login, connect, tls, folder or protocol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
